"""A requester of regency kab-a calls a service of regency kab-b over a shovel link
(docs/federation.md): two brokers, two directories, kab-b's grants decide.

The call is refused before kab-b grants kab-a's dinsos (named ``kab-a--dinsos`` in kab-b's
directory), answered after the grant, and refused again after kab-b revokes it. Each broker
enforces its end: kab-a's lets only its requesters publish to the link, each with its own
name as the origin; kab-b's lets only kab-a's link user publish to kab-a's inbound exchange,
with ``user_id`` validated.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiormq
import pytest
from typer.testing import CliRunner

from splp.adapters import Adapter, Service
from splp.bus import Client
from splp.bus.audit_events import decode_audit_message
from splp.bus.federation import close_link, link_in, link_out, links, open_link
from splp.bus.management import Management
from splp.bus.names import AUDIT_EXCHANGE
from splp.bus.wire import Request
from splp.cli.app import app
from splp.errors import AccessDenied, Forbidden
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.federation.conftest import Regency
from tests.test_schemas import errors_of

pytestmark = pytest.mark.slow

SERVICE = "dukcapil.penduduk.v1"
NIK = {"nik": "3509012345678901"}
CALL_TIMEOUT = 5.0


async def get_by_nik(payload: Any, request: Request) -> Any:
    return {
        "nik": payload["nik"],
        "name": "Siti",
        "village": "Muara Bungo",
        "caller": request.requester,
        "via": request.via,
    }


async def splp_link(regency: Regency, *args: str) -> Any:
    """``splp link ARGS --json`` against ``regency``'s broker; its JSON output."""
    env = {
        "SPLP_MANAGEMENT_URL": regency.settings.management_url,
        "SPLP_VHOST": regency.settings.vhost,
    }
    result = await asyncio.to_thread(CliRunner().invoke, app, ["link", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
async def link(regency_a: Regency, regency_b: Regency) -> AsyncIterator[None]:
    """The shovels of the link, one pair on each broker, running: kab-a's made by
    ``splp link add``, kab-b's by :func:`~splp.bus.federation.open_link`."""
    url_at_b = regency_b.amqp_url("kab-a")
    added = await splp_link(regency_a, "add", "kab-b", "--as", "kab-a", "--url", url_at_b)
    assert added == {
        "partner": "kab-b",
        "shovels": ["splp-link-kab-b-calls", "splp-link-kab-b-replies"],
    }
    async with Management(regency_b.settings) as management:
        vhost = regency_b.settings.vhost
        await open_link(management, vhost, "kab-a", "kab-b", regency_a.amqp_url("kab-b"))

        async def running() -> bool:
            at_a = [s["state"] for s in await splp_link(regency_a, "list")]
            at_b = [s["state"] for s in await links(management, vhost)]
            return at_a == at_b == ["running", "running"]

        await until(running, "the shovels run")
        yield
        await close_link(management, vhost, "kab-a")
    removed = await splp_link(regency_a, "remove", "kab-b")
    assert removed["removed"] == ["splp-link-kab-b-calls", "splp-link-kab-b-replies"]
    assert await splp_link(regency_a, "list") == []


@pytest.fixture(scope="module")
async def penduduk(
    regency_b: Regency, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Adapter]:
    """kab-b's adapter of dukcapil.penduduk.v1, with its grants from kab-b's directory."""
    settings = regency_b.party_settings(
        "dukcapil", grants_refresh=0.2, cache_dir=tmp_path_factory.mktemp("cache")
    )
    service = await Service.from_directory(SERVICE, settings)
    service.handlers["get-by-nik"] = get_by_nik
    adapter = service.adapter(settings)
    await adapter.start()
    yield adapter
    await adapter.stop(grace=2)


async def until(check: Callable[[], Awaitable[bool]], what: str, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        assert time.monotonic() < deadline, f"not within {limit} s: {what}"
        await asyncio.sleep(0.1)


async def outcome(client: Client) -> Any:
    """The reply to one call over the link, or the error it raised."""
    try:
        return await client.call(
            "kependudukan", SERVICE, "get-by-nik", NIK, timeout=CALL_TIMEOUT, partner="kab-b"
        )
    except Forbidden as exc:
        return exc


async def audit_tap(regency: Regency) -> tuple[aiormq.abc.AbstractConnection, list[dict[str, Any]]]:
    """Every audit event of ``regency``'s bus, as it is emitted."""
    connection = await aiormq.connect(regency.settings.broker_url)
    channel = await connection.channel()
    queue = (await channel.queue_declare(exclusive=True)).queue
    assert queue is not None
    await channel.queue_bind(queue, AUDIT_EXCHANGE, routing_key="#")
    events: list[dict[str, Any]] = []
    await channel.basic_consume(
        queue, lambda m: events.extend(decode_audit_message(m.body)), no_ack=True
    )
    return connection, events


async def test_b_grants_decide_a_call_from_a(
    regency_a: Regency, regency_b: Regency, link: None, penduduk: Adapter
) -> None:
    tap, events = await audit_tap(regency_b)
    async with Client(regency_a.party_settings("dinsos")) as dinsos:
        refused = await outcome(dinsos)
        assert isinstance(refused, Forbidden), refused
        assert f"{regency_b.user('kab-a--dinsos')} holds no grant" in str(refused)

        request = await regency_b.step(
            "kab-a--dinsos",
            "POST",
            "/access-requests",
            {"service": SERVICE, "reason": "bansos", **STATEMENT},
        )
        await regency_b.step(
            "admin", "POST", f"/access-requests/{request['id']}/approve", {"reason": "ok", **NOTE}
        )
        await regency_b.step(
            "dukcapil",
            "POST",
            f"/access-requests/{request['id']}/grant",
            {"reason": "ok", **grant_terms()},
        )
        answers: list[Any] = []

        async def answered() -> bool:
            answers.append(await outcome(dinsos))
            return isinstance(answers[-1], dict)

        await until(answered, "the grant at kab-b lets kab-a's dinsos in")
        assert answers[-1] == {
            "nik": NIK["nik"],
            "name": "Siti",
            "village": "Muara Bungo",
            "caller": regency_b.user("kab-a--dinsos"),
            "via": "link",
        }

        await regency_b.step(
            "dukcapil", "POST", f"/access-requests/{request['id']}/revoke", {"reason": "done"}
        )

        async def refused_again() -> bool:
            answers.append(await outcome(dinsos))
            return isinstance(answers[-1], Forbidden)

        await until(refused_again, "the revoke at kab-b shuts kab-a's dinsos out")

    async def audited() -> bool:
        return [e["status"] for e in events if e["kind"] in ("response", "denied")][-1:] == [403]

    await until(audited, "kab-b's audit trail has the last refusal")
    await tap.close()
    calls = [e for e in events if e["kind"] in ("response", "denied")]
    assert {(e["requester"], e["via"]) for e in calls} == {
        (regency_b.user("kab-a--dinsos"), "link")
    }
    assert 200 in {e["status"] for e in calls}
    for event in events:
        assert errors_of("audit-event", event) == [], event


async def test_a_broker_lets_only_its_requesters_call_out_under_their_own_name(
    regency_a: Regency, link: None
) -> None:
    async with Client(regency_a.party_settings("bappeda")) as bappeda:  # a publisher only
        with pytest.raises(AccessDenied):
            await bappeda.call(
                "kependudukan", SERVICE, "get-by-nik", NIK, timeout=CALL_TIMEOUT, partner="kab-b"
            )
    connection = await aiormq.connect(regency_a.amqp_url("dinsos"))
    try:  # dinsos may not claim to be another party of kab-a
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await channel.basic_publish(
                b"{}",
                exchange=link_out("kab-b"),
                routing_key=f"bappeda.{SERVICE}.get-by-nik",
                properties=aiormq.spec.Basic.Properties(user_id=regency_a.user("dinsos")),
            )
    finally:
        await connection.close()


async def test_b_broker_lets_only_the_link_user_into_the_link(
    regency_b: Regency, link: None
) -> None:
    connection = await aiormq.connect(regency_b.amqp_url("dinkes"))  # kab-b's own requester
    try:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await channel.basic_publish(
                b"{}",
                exchange=link_in("kab-a"),
                routing_key=f"dinsos.{SERVICE}.get-by-nik",
                properties=aiormq.spec.Basic.Properties(user_id=regency_b.user("dinkes")),
            )
    finally:
        await connection.close()


async def test_the_reconciler_keeps_the_link_users_and_no_user_for_a_partners_party(
    regency_a: Regency, regency_b: Regency
) -> None:
    vhost = regency_b.settings.vhost
    users = {u["name"] for u in (await regency_b.management.get("/api/users")).json()}
    assert regency_b.user("kab-a") in users
    assert regency_b.user("kab-a--dinsos") not in users  # its calls come over the link only
    link_user = (
        await regency_b.management.get(f"/api/permissions/{vhost}/{regency_b.user('kab-a')}")
    ).json()
    assert (link_user["configure"], link_user["read"]) == ("^$", "^$")
    assert link_user["write"] == r"^(?:amq\.default|splp\.link\.kab\-a\.in)$"
    topics = (
        await regency_a.management.get(
            f"/api/topic-permissions/{regency_a.settings.vhost}/{regency_a.user('dinsos')}"
        )
    ).json()
    assert [(t["exchange"], t["write"]) for t in topics] == [
        ("splp.link.kab-b.out", r"^dinsos\.[a-z0-9-]+\.")
    ]
