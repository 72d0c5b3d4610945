"""``SPLP_QUEUE_TYPE=quorum``: the bus's durable queues are quorum queues (replicated in a
RabbitMQ cluster), and requests flow through them as through classic ones."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx

from splp.adapters import Adapter
from splp.bus import Client, load_descriptor
from splp.bus.names import AUDIT_SINK_QUEUE, DEAD_LETTER_QUEUE
from splp.settings import Settings
from tests.broker.conftest import DEMO, made_world


async def test_quorum_queues_carry_the_bus(management: httpx.AsyncClient, tmp_path: Path) -> None:
    async with made_world(management, tmp_path, queue_type="quorum") as world:
        assert (await world.reconciler.sync()).problems == []
        vhost = quote(world.settings.vhost, safe="")
        queues = {
            q["name"]: q["type"] for q in (await management.get(f"/api/queues/{vhost}")).json()
        }
        ours = [AUDIT_SINK_QUEUE, DEAD_LETTER_QUEUE, "splp.svc.dukcapil.penduduk.v1"]
        assert [queues[name] for name in ours] == ["quorum"] * 3
        assert (await world.reconciler.status()).plan.empty  # no drift reported on them
        # an adapter (as the publisher) answers a request through the quorum queue
        descriptor = load_descriptor(DEMO / "penduduk.yaml")
        publisher = Settings(
            amqp_url=world.url("dukcapil"), vhost=world.settings.vhost, queue_type="quorum"
        )

        async def handler(payload: dict[str, str], _request: object) -> dict[str, str]:
            return {"nik": payload["nik"], "name": "Siti Aminah", "village": "Sungai Binjai"}

        admin = Settings(vhost=world.settings.vhost)  # guest: the management user's rights
        async with Adapter(descriptor, {"get-by-nik": handler}, publisher), Client(admin) as c:
            reply = await c.call(
                "kependudukan", descriptor.ref, "get-by-nik", {"nik": "1" * 16}, timeout=10
            )
        assert reply["name"] == "Siti Aminah"
