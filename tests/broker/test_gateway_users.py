"""The gateway's broker users (issue 13): one per requester, holding exactly its requester
permissions, with a password derived from SPLP_GATEWAY_SECRET; seen by raw AMQP clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiormq
import httpx
import pytest
from aiormq.abc import AbstractConnection
from pydantic import SecretStr
from sqlalchemy import select

from splp.bus.gateway_identity import gateway_password
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.models import Party
from tests.broker.conftest import World, made_world
from tests.broker.test_enforcement import NIK, REFUSED, THEME, refused
from tests.logcapture import SECRETS
from tests.test_wire_raw import RawCaller

SECRET = SECRETS.add("a gateway secret of the regency, 32+ chars", "gateway secret")
OTHER_SECRET = SECRETS.add("another gateway secret, also 32+ characters", "gateway secret")


@pytest.fixture(scope="module")
async def gateway_world(
    management: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with made_world(
        management, tmp_path_factory.mktemp("gateway"), gateway_secret=SecretStr(SECRET)
    ) as world:
        yield world


def gateway_user(world: World, party: str) -> str:
    return f"{world.settings.broker_user_prefix}{party}@gateway"


async def connect_as_gateway(world: World, party: str, secret: str = SECRET) -> AbstractConnection:
    user = gateway_user(world, party)
    password = SECRETS.add(gateway_password(secret.encode(), user), "gateway broker password")
    return await aiormq.connect(
        f"amqp://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@127.0.0.1:5672/{quote(world.settings.vhost, safe='')}"
    )


async def publish_as_gateway(
    connection: AbstractConnection, world: World, party: str, key: str
) -> None:
    caller = await RawCaller(connection, gateway_user(world, party)).open()
    await caller.publish(key, NIK, caller.properties(key.rsplit(".", 1)[1]), exchange=THEME)


async def permissions_of(world: World, user: str) -> tuple[object, dict[str, object]]:
    vhost = quote(world.settings.vhost, safe="")
    name = quote(user, safe="")
    permission = await world.management.get(f"/api/permissions/{vhost}/{name}")
    topics = await world.management.get(f"/api/topic-permissions/{vhost}/{name}")
    return (
        {k: permission.json()[k] for k in ("configure", "write", "read")}
        if permission.status_code == 200
        else None,
        {t["exchange"]: (t["write"], t["read"]) for t in topics.json()}
        if topics.status_code == 200
        else {},
    )


async def users_of(world: World) -> set[str]:
    return {u["name"] for u in (await world.management.get("/api/users")).json()}


async def test_no_gateway_users_without_the_secret(world: World) -> None:
    assert world.settings.gateway_secret is None
    mine = {u for u in await users_of(world) if u.startswith(world.settings.broker_user_prefix)}
    assert mine and not [u for u in mine if u.endswith("@gateway")]


async def test_each_requester_has_a_gateway_user_with_its_requester_permissions(
    gateway_world: World,
) -> None:
    world = gateway_world
    await world.grant("dinsos", "dukcapil.penduduk.v1", ["get-by-nik"])
    users = await users_of(world)
    assert {gateway_user(world, p) for p in ("dinsos", "dinkes", "pusk")} <= users
    for party in ("dukcapil", "bapenda", "admin"):  # not requesters
        assert gateway_user(world, party) not in users
    for party in ("dinsos", "dinkes"):
        assert await permissions_of(world, gateway_user(world, party)) == await permissions_of(
            world, world.user(party)
        )
    permission, topics = await permissions_of(world, gateway_user(world, "dinsos"))
    assert permission == {
        "configure": "^$",
        "write": r"^(?:splp\.theme\.kependudukan)$",
        "read": "^$",
    }
    assert topics == {THEME: (r"^(?:dukcapil\.penduduk\.v1\.get\-by\-nik)$", "^$")}
    tags = {u["name"]: u["tags"] for u in (await world.management.get("/api/users")).json()}
    assert f"splp:{world.settings.vhost}" in tags[gateway_user(world, "dinsos")]
    assert (await world.reconciler.status()).plan.empty  # the derived hash is stable


async def test_a_gateway_user_calls_what_its_party_may_and_nothing_else(
    gateway_world: World,
) -> None:
    world = gateway_world
    await world.grant("pusk", "dukcapil.penduduk.v1", ["get-by-nik"])
    connection = await connect_as_gateway(world, "pusk")
    try:
        await publish_as_gateway(connection, world, "pusk", "dukcapil.penduduk.v1.get-by-nik")
    finally:
        await connection.close()
    for key in ("dukcapil.penduduk.v1.search", "dukcapil.keluarga.v1.get"):
        connection = await connect_as_gateway(world, "pusk")
        try:
            assert "ACCESS_REFUSED" in await refused(
                publish_as_gateway(connection, world, "pusk", key)
            )
        finally:
            await connection.close()
    # another party's user_id on the gateway user's connection is refused too
    connection = await connect_as_gateway(world, "pusk")
    try:
        caller = await RawCaller(connection, gateway_user(world, "dinsos")).open()
        properties = caller.properties("get-by-nik")
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed, match="user_id"):
            await caller.publish("dukcapil.penduduk.v1.get-by-nik", NIK, properties, exchange=THEME)
    finally:
        await connection.close()
    with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
        await connect_as_gateway(world, "pusk", secret=OTHER_SECRET)


@pytest.mark.parametrize("step", ["revoke", "suspend"])
async def test_a_revoke_closes_the_gateway_users_connections_too(
    gateway_world: World, step: str
) -> None:
    world = gateway_world
    party = f"gw-{step}"
    await world.add_party(party, "requester")
    request_id = await world.grant(party, "dukcapil.penduduk.v1", ["get-by-nik"])
    connection = await connect_as_gateway(world, party)
    caller = await RawCaller(connection, gateway_user(world, party)).open()
    key = "dukcapil.penduduk.v1.get-by-nik"
    await caller.publish(key, NIK, caller.properties("get-by-nik"), exchange=THEME)
    started = time.monotonic()
    await world.step(request_id, step, "admin")
    try:
        while time.monotonic() - started < 5:
            await caller.publish(key, NIK, caller.properties("get-by-nik"), exchange=THEME)
            await asyncio.sleep(0.1)
        pytest.fail(f"the gateway user's connection still publishes 5 s after {step}")
    except (*REFUSED, aiormq.exceptions.ChannelInvalidStateError, RuntimeError):
        assert time.monotonic() - started < 5
    finally:
        await connection.close()
    again = await connect_as_gateway(world, party)
    try:
        assert "ACCESS_REFUSED" in await refused(publish_as_gateway(again, world, party, key))
    finally:
        await again.close()


async def test_gateway_users_follow_the_role_and_the_secret(
    gateway_world: World, tmp_path: Path
) -> None:
    world = gateway_world
    await world.add_party("gw-role", "requester")
    user = gateway_user(world, "gw-role")
    assert user in await users_of(world)
    async with world.store.session() as session:
        party = await session.scalar(select(Party).where(Party.name == "gw-role"))
        assert party is not None
        party.roles = ["monitor"]
    drift = await world.reconciler.sync()
    assert f"user {user}: deleted" in drift.changes and user not in await users_of(world)
    async with world.store.session() as session:
        party = await session.scalar(select(Party).where(Party.name == "gw-role"))
        assert party is not None
        party.roles = ["requester"]
    await world.reconciler.sync()
    assert user in await users_of(world)

    rotated = BrokerReconciler(
        world.store, world.settings.model_copy(update={"gateway_secret": SecretStr(OTHER_SECRET)})
    )
    drift = await rotated.sync()
    assert f"user {user}: password replaced" in drift.changes
    assert user in drift.closed
    with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
        await connect_as_gateway(world, "gw-role")
    await (await connect_as_gateway(world, "gw-role", secret=OTHER_SECRET)).close()
    unset = BrokerReconciler(
        world.store, world.settings.model_copy(update={"gateway_secret": None})
    )
    drift = await unset.sync()
    prefix = world.settings.broker_user_prefix  # other suites may share the broker
    assert not [u for u in await users_of(world) if u.startswith(prefix) and u.endswith("@gateway")]
    assert all(SECRET not in line and OTHER_SECRET not in line for line in drift.changes)
    await world.reconciler.sync()  # the module's secret again
    assert user in await users_of(world)
