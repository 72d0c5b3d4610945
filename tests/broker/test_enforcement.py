"""The broker's own refusals, seen by raw AMQP clients (aiormq, no SPLP SDK): the
reconciler's users and permissions are what stops them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiormq
import orjson
import pytest
from aiormq.abc import AbstractConnection

from splp.adapters import Adapter
from splp.bus.descriptor import parse_descriptor
from splp.bus.wire import Request
from splp.settings import Settings
from tests.broker.conftest import World, descriptor_doc
from tests.test_wire_raw import RawCaller

THEME = "splp.theme.kependudukan"
NIK = b'{"nik": "3509012345678901"}'
REFUSED = (aiormq.exceptions.ChannelAccessRefused, aiormq.exceptions.ConnectionClosed)


async def connect(world: World, party: str, password: str | None = None) -> AbstractConnection:
    return await aiormq.connect(world.url(party, password))


async def refused(action: Any) -> str:
    with pytest.raises(REFUSED) as caught:
        await action
    return str(caught.value)


async def publish(connection: AbstractConnection, party: str, key: str, world: World) -> None:
    """One request to the theme exchange with publisher confirms (raises when refused)."""
    caller = await RawCaller(connection, world.user(party)).open()
    await caller.publish(key, NIK, caller.properties(key.rsplit(".", 1)[1]), exchange=THEME)


async def get_by_nik(payload: Any, request: Request) -> Any:
    return {"nik": payload["nik"], "name": "Siti", "village": "Muara Bungo", "caller": None}


@pytest.fixture
async def penduduk_adapter(world: World) -> AsyncIterator[Adapter]:
    """The penduduk service served by an SPLP adapter logged in as dukcapil's broker user."""
    doc = descriptor_doc("dukcapil", "penduduk", "kependudukan", ["get-by-nik", "search"])
    settings = Settings(amqp_url=world.url("dukcapil"), vhost=world.settings.vhost)
    handlers = {"get-by-nik": get_by_nik, "search": get_by_nik}
    adapter = Adapter(parse_descriptor(doc), handlers, settings, declare_topology=False)
    await adapter.start()
    yield adapter
    await adapter.stop(grace=2)


async def test_a_granted_requester_calls_through_direct_reply_to(
    world: World, penduduk_adapter: Adapter
) -> None:
    await world.grant("dinsos", "dukcapil.penduduk.v1", ["get-by-nik"])
    connection = await connect(world, "dinsos")
    try:
        caller = await RawCaller(connection, world.user("dinsos")).open()
        key = "dukcapil.penduduk.v1.get-by-nik"
        reply = await caller.call(key, NIK, caller.properties("get-by-nik"), exchange=THEME)
        assert reply.header.properties.headers["splp-status"] == 200
        assert orjson.loads(reply.body)["name"] == "Siti"
    finally:
        await connection.close()


async def test_a_requester_without_a_grant_is_refused(world: World) -> None:
    connection = await connect(world, "dinkes")
    try:
        key = "dukcapil.penduduk.v1.get-by-nik"
        assert "ACCESS_REFUSED" in await refused(publish(connection, "dinkes", key, world))
    finally:
        await connection.close()


async def test_a_grant_reaches_neither_another_service_nor_another_operation(
    world: World,
) -> None:
    await world.grant("pusk", "dukcapil.penduduk.v1", ["get-by-nik"])
    for key in ("dukcapil.keluarga.v1.get", "dukcapil.penduduk.v1.search"):
        connection = await connect(world, "pusk")
        try:
            assert "ACCESS_REFUSED" in await refused(publish(connection, "pusk", key, world))
        finally:
            await connection.close()
    connection = await connect(world, "pusk")
    try:
        await publish(connection, "pusk", "dukcapil.penduduk.v1.get-by-nik", world)
    finally:
        await connection.close()


async def test_a_grant_of_every_operation_reaches_only_that_service(world: World) -> None:
    await world.add_party("puskesmas-all", "requester")
    await world.grant("puskesmas-all", "dukcapil.penduduk.v1")
    connection = await connect(world, "puskesmas-all")
    try:
        for op in ("get-by-nik", "search"):
            await publish(connection, "puskesmas-all", f"dukcapil.penduduk.v1.{op}", world)
        others = ("dukcapil.keluarga.v1.get", "dukcapil.penduduk.v1.a.b", "dukcapil.penduduk.v2.x")
        for key in others:
            with pytest.raises(REFUSED):
                await publish(connection, "puskesmas-all", key, world)
    finally:
        await connection.close()


@pytest.mark.parametrize("step", ["revoke", "suspend"])
async def test_an_open_connection_is_refused_within_5_s_of_a_revoke(
    world: World, step: str
) -> None:
    party = f"rs-{step}"
    await world.add_party(party, "requester")
    request_id = await world.grant(party, "dukcapil.penduduk.v1", ["get-by-nik"])
    connection = await connect(world, party)
    caller = await RawCaller(connection, world.user(party)).open()
    key = "dukcapil.penduduk.v1.get-by-nik"
    await caller.publish(key, NIK, caller.properties("get-by-nik"), exchange=THEME)
    started = time.monotonic()
    await world.step(request_id, step, "admin")
    try:
        while time.monotonic() - started < 5:
            await caller.publish(key, NIK, caller.properties("get-by-nik"), exchange=THEME)
            await asyncio.sleep(0.1)
        pytest.fail(f"the connection still publishes 5 s after {step}")
    except (*REFUSED, aiormq.exceptions.ChannelInvalidStateError, RuntimeError):
        assert time.monotonic() - started < 5
    finally:
        await connection.close()
    again = await connect(world, party)
    try:
        assert "ACCESS_REFUSED" in await refused(publish(again, party, key, world))
    finally:
        await again.close()


async def test_a_publisher_cannot_consume_another_queue_nor_touch_topology(
    world: World,
) -> None:
    connection = await connect(world, "bapenda")
    try:
        own = await connection.channel()
        await own.basic_consume("splp.svc.bapenda.pajak.v1", lambda m: asyncio.sleep(0))
        attempts = [
            lambda c: c.basic_consume("splp.svc.dukcapil.penduduk.v1", lambda m: asyncio.sleep(0)),
            lambda c: c.basic_get("splp.svc.dukcapil.penduduk.v1"),
            lambda c: c.exchange_declare("splp.theme.bocor", exchange_type="topic", durable=True),
            lambda c: c.exchange_delete(THEME),
            lambda c: c.queue_declare("splp.svc.bapenda.extra.v1", durable=True),
            lambda c: c.queue_delete("splp.svc.dukcapil.penduduk.v1"),
            lambda c: c.queue_bind("splp.svc.bapenda.pajak.v1", THEME, routing_key="#"),
        ]
        for attempt in attempts:
            channel = await connection.channel()
            assert "ACCESS_REFUSED" in await refused(attempt(channel))
    finally:
        await connection.close()


async def test_a_requester_cannot_eavesdrop_or_use_the_default_exchange(world: World) -> None:
    connection = await connect(world, "dinsos")
    try:
        channel = await connection.channel()
        assert "ACCESS_REFUSED" in await refused(channel.queue_declare("", exclusive=True))
        channel = await connection.channel(publisher_confirms=True)
        attempt = channel.basic_publish(
            NIK, exchange="", routing_key="splp.svc.dukcapil.penduduk.v1"
        )
        assert "ACCESS_REFUSED" in await refused(attempt)
    finally:
        await connection.close()


async def test_the_old_broker_password_stops_working_on_rotation(world: World) -> None:
    await world.add_party("rotator", "requester")
    old = world.passwords["rotator"]
    connection = await connect(world, "rotator")
    response = await world.api.post(
        "/parties/rotator/broker-password", json={}, headers=world.api.as_("admin")
    )
    assert response.status_code == 200, response.text
    new = response.json()["broker_password"]
    assert new != old
    with pytest.raises(aiormq.exceptions.ConnectionClosed, match="CONNECTION_FORCED"):
        await asyncio.wait_for(connection.closing, 5)
    with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
        await connect(world, "rotator", old)
    await (await connect(world, "rotator", new)).close()
