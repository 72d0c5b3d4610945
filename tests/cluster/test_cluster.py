"""The cluster of ``scripts/cluster.sh``, and clients that know its nodes: they connect to
the first node that answers, fail over to another after a loss, declare quorum queues."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from splp.adapters import Adapter
from splp.audit.sink import AuditSink
from splp.audit.store import AuditStore
from splp.bus import Client, load_descriptor
from splp.bus.management import Management
from splp.bus.names import AUDIT_SINK_QUEUE
from splp.errors import ServiceUnavailable
from splp.settings import Settings
from tests.cluster_nodes import NODES, Cluster

DEMO = Path(__file__).resolve().parents[2] / "splp" / "demo"
DEAD = "127.0.0.1:1"  # nothing listens there: a node that is down


async def person(payload: dict[str, str], _request: object) -> dict[str, str]:
    return {"nik": payload["nik"], "name": "Siti Aminah", "village": "Sungai Binjai"}


async def test_three_nodes_with_their_plugins_and_not_the_default_node(
    cluster: Cluster, management: Any
) -> None:
    status = cluster.script("status")
    assert status.returncode == 0, status.stderr
    for n in range(1, NODES + 1):
        assert f"{cluster.node(n)}: running" in status.stdout
        async with cluster.management(n) as api:  # management plugin on every node
            nodes = (await api.get("/api/nodes")).json()
            assert sorted(node["name"] for node in nodes) == [
                cluster.node(i) for i in range(1, NODES + 1)
            ]
            assert all(node["running"] for node in nodes)
            enabled = {p for node in nodes for p in node.get("enabled_plugins", [])}
            assert {"rabbitmq_management", "rabbitmq_event_exchange"} <= enabled
            exchange = await api.get("/api/exchanges/%2F/amq.rabbitmq.event")
            assert exchange.status_code == 200
    # the machine's default node is on its own, on 5672
    default_nodes = (await management.get("/api/nodes")).json()
    assert [node["name"] for node in default_nodes] == ["rabbit@localhost"]
    again = cluster.script("up")  # idempotent
    assert again.returncode == 0 and "joins" not in again.stdout, again.stdout


async def test_several_addresses_mean_quorum_queues_and_failover_on_connect(
    cluster: Cluster, cluster_settings: Settings, tmp_path: Path
) -> None:
    assert cluster_settings.queue_type == "quorum"
    # the first address is dead: every client goes on to the next one
    settings = cluster_settings.model_copy(update={"amqp_urls": f"{DEAD},{cluster.amqp_urls}"})
    descriptor = load_descriptor(DEMO / "penduduk.yaml")
    store = AuditStore(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    stop = asyncio.Event()
    sink = asyncio.create_task(AuditSink(store, settings.broker_urls, settings=settings).run(stop))
    try:
        async with (
            Adapter(descriptor, {"get-by-nik": person}, settings, declare_topology=True),
            Client(settings) as client,
        ):
            reply = await client.call(
                "kependudukan", descriptor.ref, "get-by-nik", {"nik": "1" * 16}, timeout=10
            )
            assert reply["name"] == "Siti Aminah"
        async with cluster.management() as api:
            vhost = quote(settings.vhost, safe="")
            queues = {q["name"]: q for q in (await api.get(f"/api/queues/{vhost}")).json()}
        ours = [AUDIT_SINK_QUEUE, "splp.svc.dukcapil.penduduk.v1"]
        assert [queues[name]["type"] for name in ours] == ["quorum", "quorum"]
        assert len(queues["splp.svc.dukcapil.penduduk.v1"]["members"]) == NODES
        for _ in range(100):  # the adapter's response event reaches the store
            if await store.count() >= 1:
                break
            await asyncio.sleep(0.1)
        assert await store.count() == 1
    finally:
        stop.set()
        await sink
        await store.close()


async def test_a_client_fails_over_to_another_node_after_a_loss(
    cluster: Cluster, cluster_settings: Settings
) -> None:
    descriptor = load_descriptor(DEMO / "penduduk.yaml")
    async with (
        Adapter(descriptor, {"get-by-nik": person}, cluster_settings, declare_topology=True),
        Client(cluster_settings, name="splp-failover-test") as client,
    ):
        first = client._connection.address
        assert first.startswith(f"127.0.0.1:{cluster.amqp_port(1)}/")
        async with Management(cluster_settings) as management:  # closes them, as a node would
            await management.close_connections_of({"guest"})
        for _ in range(50):
            if not client._connection.is_ready:
                break
            await asyncio.sleep(0.1)
        reply = await client.call(
            "kependudukan", descriptor.ref, "get-by-nik", {"nik": "2" * 16}, timeout=10
        )
        assert reply["nik"] == "2" * 16
        assert client._connection.address.startswith(f"127.0.0.1:{cluster.amqp_port(2)}/")


async def test_the_management_api_fails_over_and_says_when_no_node_answers(
    cluster: Cluster, cluster_settings: Settings
) -> None:
    ports = [cluster.management_port(n) for n in range(1, NODES + 1)]
    listed = "http://guest:guest@" + ",".join([DEAD, *(f"127.0.0.1:{p}" for p in ports)])
    async with Management(cluster_settings.model_copy(update={"management_url": listed})) as m:
        names = [c["name"] for c in (await m.read("/api/nodes"))]
        assert len(names) == NODES
    dead = cluster_settings.model_copy(update={"management_url": f"http://g:g@{DEAD},{DEAD}"})
    async with Management(dead) as m:
        with pytest.raises(ServiceUnavailable, match="unreachable"):
            await m.read("/api/nodes")
