"""Adapters and requesters served by a real directory: grants, quotas, outages.

A real directory service (uvicorn, SQLite store) holds the service and the grants; the
adapter takes its descriptor and grants from it, checks every caller (the second
enforcement layer), throttles at the grant's quota, and keeps working from its last copy
on disk when the directory is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiormq
import httpx
import pytest
from pydantic import SecretStr

from splp.adapters import Adapter, Service
from splp.adapters.from_directory import from_directory
from splp.bus import Client
from splp.bus.audit_events import decode_audit_message
from splp.bus.names import AUDIT_EXCHANGE
from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from splp.directory_service.catalog import create_theme
from splp.directory_service.parties import create_party
from splp.errors import Forbidden, ServiceUnavailable, TooManyRequests
from splp.http_server import serve_app
from splp.settings import Settings
from tests.logcapture import PAYLOAD_MARKER, SECRETS
from tests.services import HANDLERS, echo_descriptor
from tests.test_schemas import errors_of

ECHO = echo_descriptor(service="echo-grants")
PARTIES = {
    "admin": ["administrator"],
    "uji": ["publisher"],
    "dinsos": ["requester"],
    "bapenda": ["requester"],
}
QUOTA = 5


@dataclass
class Directory:
    url: str
    tokens: dict[str, str]
    http: httpx.AsyncClient

    async def step(self, party: str, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[party]}"},
        )
        assert response.is_success, response.text
        return response.json()


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[Directory]:
    async with running_directory(tmp_path) as running:
        yield running


@contextlib.asynccontextmanager
async def running_directory(tmp_path: Path, quota: int | None = QUOTA) -> AsyncIterator[Directory]:
    """A directory on a real server: the echo service published, dinsos granted ``echo``
    at ``quota`` requests a minute."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}")
    await store.migrate()
    tokens = {}
    async with store.session() as session:
        for name, roles in PARTIES.items():
            _party, tokens[name] = await create_party(session, name, roles)
        await create_theme(session, "uji", "Tests", "")
    # broker enforcement is tested in tests/broker: here the directory must not touch the broker
    settings = Settings(
        database_url=store.url, amqp_url="amqp://guest:guest@127.0.0.1:1/", broker_reconcile=False
    )
    app = create_app(settings, store=store)
    async with serve_app(app) as url, httpx.AsyncClient() as http:
        directory = Directory(url, tokens, http)
        await directory.step("uji", "POST", "/services", ECHO.model_dump(mode="json"))
        request = await directory.step(
            "dinsos",
            "POST",
            "/access-requests",
            {"service": str(ECHO.ref), "operations": ["echo"], "reason": "tests"},
        )
        await directory.step(
            "admin", "POST", f"/access-requests/{request['id']}/approve", {"reason": "ok"}
        )
        await directory.step(
            "uji",
            "POST",
            f"/access-requests/{request['id']}/grant",
            {"reason": "ok", "quota_per_minute": quota},
        )
        directory.request_id = request["id"]  # type: ignore[attr-defined]
        yield directory
    await close_app(app)
    await store.close()


@pytest.fixture
async def users(
    broker: Settings, management: httpx.AsyncClient
) -> AsyncIterator[dict[str, Settings]]:
    """Broker users ``<prefix>dinsos`` and ``<prefix>bapenda`` (broker permissions wide open:
    this file tests the adapter's own check, tests/broker tests the broker's)."""
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    vhost = quote(broker.vhost, safe="")
    made = {}
    for party in ("dinsos", "bapenda"):
        user, password = prefix + party, SECRETS.add(uuid.uuid4().hex, "broker password")
        (
            await management.put(f"/api/users/{user}", json={"password": password, "tags": ""})
        ).raise_for_status()
        (
            await management.put(
                f"/api/permissions/{vhost}/{user}",
                json={"configure": "", "write": ".*", "read": ""},
            )
        ).raise_for_status()
        url = httpx.URL(broker.broker_url).copy_with(username=user, password=password, path="/")
        made[party] = Settings(vhost=broker.vhost, amqp_url=str(url), broker_user_prefix=prefix)
    yield made
    for settings in made.values():
        await management.delete(f"/api/users/{settings.username}")


def publisher_settings(
    broker: Settings, directory: Directory, users: dict[str, Settings], cache: Path
) -> Settings:
    return broker.model_copy(
        update={
            "directory_url": directory.url,
            "token": SecretStr(directory.tokens["uji"]),
            "cache_dir": cache,
            "grants_refresh": 0.2,
            "broker_user_prefix": users["dinsos"].broker_user_prefix,
        }
    )


async def audit_tap(broker: Settings) -> tuple[aiormq.abc.AbstractConnection, list[dict[str, Any]]]:
    connection = await aiormq.connect(broker.broker_url)
    channel = await connection.channel()
    queue = (await channel.queue_declare(exclusive=True)).queue
    await channel.queue_bind(queue, AUDIT_EXCHANGE, routing_key=f"*.uji.uji.{ECHO.service}")
    events: list[dict[str, Any]] = []
    await channel.basic_consume(
        queue, lambda m: events.extend(decode_audit_message(m.body)), no_ack=True
    )
    return connection, events


async def test_grants_and_quotas_from_the_directory(
    broker: Settings, directory: Directory, users: dict[str, Settings], tmp_path: Path
) -> None:
    settings = publisher_settings(broker, directory, users, tmp_path / "cache")
    service = await Service.from_directory(ECHO.ref, settings)
    service.handlers.update(HANDLERS)
    adapter = service.adapter(settings, declare_topology=True)
    await adapter.start()  # declares the topology, splp.audit included
    tap, events = await audit_tap(broker)
    try:
        async with Client(users["dinsos"]) as dinsos, Client(users["bapenda"]) as bapenda:
            for i in range(QUOTA):  # the bucket starts full
                assert (await dinsos.call("uji", ECHO.ref, "echo", {"id": i}))["id"] == i
            with pytest.raises(TooManyRequests) as throttled:
                await dinsos.call("uji", ECHO.ref, "echo", {"id": 99, "note": PAYLOAD_MARKER})
            assert throttled.value.retry_after is not None and throttled.value.retry_after >= 1
            with pytest.raises(Forbidden, match="no grant"):  # the grant lists only echo
                await dinsos.call("uji", ECHO.ref, "fail", {})
            with pytest.raises(Forbidden, match="no grant"):
                await bapenda.call("uji", ECHO.ref, "echo", {"id": 1, "note": PAYLOAD_MARKER})
        async with Client(broker) as guest:  # a user outside the parties' prefix
            with pytest.raises(Forbidden):
                await guest.call("uji", ECHO.ref, "echo", {"id": 1})
        for _ in range(100):
            kinds = [e["kind"] for e in events]
            if kinds.count("denied") >= 3:
                break
            await asyncio.sleep(0.05)
        assert kinds.count("response") == QUOTA
        assert kinds.count("throttled") == 1 and kinds.count("denied") == 3
        for event in events:
            assert errors_of("audit-event", event) == [], event
        throttled_event = next(e for e in events if e["kind"] == "throttled")
        assert (throttled_event["status"], throttled_event["requester"]) == (
            429,
            users["dinsos"].username,
        )
    finally:
        await adapter.stop(grace=5)
        await tap.close()


async def test_a_revoked_grant_stops_the_requester_within_the_refresh(
    broker: Settings, directory: Directory, users: dict[str, Settings], tmp_path: Path
) -> None:
    settings = publisher_settings(broker, directory, users, tmp_path / "cache")
    descriptor, grants = await from_directory(ECHO.ref, settings)
    adapter = Adapter(descriptor, HANDLERS, settings, grants=grants, declare_topology=True)
    async with adapter, Client(users["dinsos"]) as dinsos:
        assert (await dinsos.call("uji", ECHO.ref, "echo", {"id": 1}))["id"] == 1
        await directory.step(
            "admin",
            "POST",
            f"/access-requests/{directory.request_id}/revoke",  # type: ignore[attr-defined]
            {"reason": "misuse"},
        )
        await asyncio.sleep(0.5)  # two refreshes
        with pytest.raises(Forbidden):
            await dinsos.call("uji", ECHO.ref, "echo", {"id": 2})


@dataclass
class CallLog:
    """Outcomes of a steady stream of calls, with the loop time of each answer."""

    answered: list[float]
    failed: list[str]


async def call_steadily(client: Client, stop: asyncio.Event, log: CallLog) -> None:
    loop = asyncio.get_running_loop()
    n = 0
    while not stop.is_set():
        n += 1
        try:
            reply = await client.call("uji", ECHO.ref, "echo", {"id": n, "note": PAYLOAD_MARKER})
            assert reply["id"] == n
            log.answered.append(loop.time())
        except Exception as exc:
            log.failed.append(f"call {n}: {type(exc).__name__}: {exc}")
        await asyncio.sleep(0.01)


@pytest.mark.chaos
async def test_calls_keep_flowing_on_cached_grants_when_the_directory_stops(
    broker: Settings, users: dict[str, Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The directory server is stopped while a requester calls an adapter that refreshes its
    grants every 0.2 s: the calls go on for ten refresh periods, and the adapter still
    refuses a caller without a grant (it neither drops its grants nor opens up)."""
    up = contextlib.AsyncExitStack()
    directory = await up.enter_async_context(running_directory(tmp_path, quota=None))
    try:
        settings = publisher_settings(broker, directory, users, tmp_path / "cache")
        descriptor, grants = await from_directory(ECHO.ref, settings)
        adapter = Adapter(descriptor, HANDLERS, settings, grants=grants, declare_topology=True)
        async with adapter, Client(users["dinsos"]) as dinsos, Client(users["bapenda"]) as bapenda:
            stop, log = asyncio.Event(), CallLog([], [])
            caller = asyncio.create_task(call_steadily(dinsos, stop, log))
            try:
                await asyncio.sleep(1.0)
                assert len(log.answered) >= 10 and not log.failed, log.failed[:3]
                await up.aclose()  # the directory server stops, mid-stream
                loop = asyncio.get_running_loop()
                down_at = loop.time()
                async with httpx.AsyncClient() as probe:
                    with pytest.raises(httpx.ConnectError):
                        await probe.get(directory.url)
                await asyncio.sleep(10 * settings.grants_refresh)
                with pytest.raises(Forbidden):
                    await bapenda.call("uji", ECHO.ref, "echo", {"id": 1, "note": PAYLOAD_MARKER})
            finally:
                stop.set()
                await asyncio.wait_for(caller, 15)
        after = [t for t in log.answered if t > down_at + 2 * settings.grants_refresh]
        assert not log.failed, f"{len(log.failed)} calls failed: {log.failed[:3]}"
        assert len(after) >= 30, f"only {len(after)} calls answered after the directory stopped"
        refreshes = [
            r
            for r in caplog.records
            if "using the last copy" in r.getMessage() and "grants" in r.getMessage()
        ]
        assert len(refreshes) >= 5, (
            "the adapter did not try to refresh while the directory was down"
        )
    finally:
        await up.aclose()


@pytest.mark.chaos
async def test_adapter_and_requester_keep_working_when_the_directory_is_down(
    broker: Settings, users: dict[str, Settings], tmp_path: Path, management: httpx.AsyncClient
) -> None:
    cache = tmp_path / "cache"
    async with running_directory(tmp_path) as directory:
        settings = publisher_settings(broker, directory, users, cache)
        descriptor, grants = await from_directory(ECHO.ref, settings)
        await grants.start()  # fetches and keeps a copy
        await grants.stop()
        requester = users["dinsos"].model_copy(
            update={
                "directory_url": directory.url,
                "token": SecretStr(directory.tokens["dinsos"]),
                "cache_dir": cache,
            }
        )
        async with Client(requester) as client:
            assert [g["service"] for g in await client.grants()] == [str(ECHO.ref)]
            assert (await client.descriptor(ECHO.ref)).operations.keys() == ECHO.operations.keys()
    # the directory is gone now: a new adapter starts from the copies on disk
    async with httpx.AsyncClient() as probe:
        with pytest.raises(httpx.ConnectError):
            await probe.get(directory.url)
    descriptor, grants = await from_directory(ECHO.ref, settings)
    adapter = Adapter(descriptor, HANDLERS, settings, grants=grants, declare_topology=True)
    async with adapter, Client(requester) as client:
        assert (await client.call("uji", ECHO.ref, "echo", {"id": 7}))["id"] == 7
        assert len(await client.grants()) == 1
    # with no copy at all, the adapter refuses to start rather than guess
    empty = settings.model_copy(update={"cache_dir": tmp_path / "empty"})
    with pytest.raises(ServiceUnavailable, match="no copy"):
        await from_directory(ECHO.ref, empty)


async def test_the_http_adapter_takes_its_service_from_the_directory(
    broker: Settings, directory: Directory, users: dict[str, Settings], tmp_path: Path
) -> None:
    from fastapi import FastAPI

    from splp.adapters import open_http_adapter

    agency = FastAPI()

    @agency.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    async with serve_app(agency) as agency_url:
        config = tmp_path / "adapter.yaml"
        config.write_text(
            f"service: {ECHO.ref}\n"
            f"base_url: {agency_url}\n"
            "operations:\n"
            "  echo: {method: POST, path: /echo}\n"
            "  fail: {method: POST, path: /missing}\n"
            "  bad-response: {method: POST, path: /missing}\n"
        )
        settings = publisher_settings(broker, directory, users, tmp_path / "cache")
        adapter = await open_http_adapter(config, settings, declare_topology=True)
        assert adapter.grants is not None
        async with adapter, Client(users["dinsos"]) as dinsos, Client(users["bapenda"]) as bapenda:
            marked = {"id": 3, "note": PAYLOAD_MARKER}
            assert await dinsos.call("uji", ECHO.ref, "echo", marked) == marked
            with pytest.raises(Forbidden):
                await bapenda.call("uji", ECHO.ref, "echo", {"id": 3})


async def echo_with_via(payload: Any, request: Any) -> Any:
    return {"id": payload["id"], "requester": request.requester, "via": request.via}


async def test_a_gateway_call_is_the_requesters_call(
    broker: Settings,
    directory: Directory,
    users: dict[str, Settings],
    management: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    """A call on ``<prefix>dinsos@gateway`` (the HTTP gateway's broker user for dinsos) is
    admitted on dinsos's grant, counted in dinsos's quota bucket (the same as its AMQP
    calls), and audited as dinsos's call via the gateway; bapenda's gateway user is denied."""
    prefix = users["dinsos"].broker_user_prefix
    vhost = quote(broker.vhost, safe="")
    gateway: dict[str, Settings] = {}
    for party in ("dinsos", "bapenda"):
        user = f"{prefix}{party}@gateway"
        password = SECRETS.add(uuid.uuid4().hex, "broker password")
        name = quote(user, safe="")
        body = {"password": password, "tags": ""}
        (await management.put(f"/api/users/{name}", json=body)).raise_for_status()
        wide = {"configure": "", "write": ".*", "read": ""}  # the adapter's check is tested
        (await management.put(f"/api/permissions/{vhost}/{name}", json=wide)).raise_for_status()
        url = httpx.URL(broker.broker_url).copy_with(username=user, password=password, path="/")
        gateway[party] = Settings(vhost=broker.vhost, amqp_url=str(url), broker_user_prefix=prefix)
        assert gateway[party].username == user
    settings = publisher_settings(broker, directory, users, tmp_path / "cache")
    descriptor, grants = await from_directory(ECHO.ref, settings)
    handlers = {**HANDLERS, "echo": echo_with_via}
    adapter = Adapter(descriptor, handlers, settings, grants=grants, declare_topology=True)
    tap, events = await audit_tap(broker)
    try:
        async with (
            adapter,
            Client(users["dinsos"]) as amqp,
            Client(gateway["dinsos"]) as via_gateway,
            Client(gateway["bapenda"]) as bapenda,
        ):
            for i in range(2):  # dinsos over AMQP
                assert (await amqp.call("uji", ECHO.ref, "echo", {"id": i}))["via"] is None
            for i in range(2, QUOTA):  # and through the gateway: one bucket
                reply = await via_gateway.call("uji", ECHO.ref, "echo", {"id": i})
                assert (reply["requester"], reply["via"]) == (users["dinsos"].username, "gateway")
            with pytest.raises(TooManyRequests):
                await via_gateway.call("uji", ECHO.ref, "echo", {"id": 98})
            with pytest.raises(TooManyRequests):  # the gateway used up dinsos's own quota
                await amqp.call("uji", ECHO.ref, "echo", {"id": 99})
            with pytest.raises(Forbidden, match=r"through the gateway\) holds no grant"):
                await bapenda.call("uji", ECHO.ref, "echo", {"id": 1, "note": PAYLOAD_MARKER})
        for _ in range(100):
            if len(events) >= QUOTA + 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await tap.close()
        for settings_of in gateway.values():
            await management.delete(f"/api/users/{quote(settings_of.username, safe='')}")
    seen = [(e["kind"], e["requester"], e.get("via")) for e in events]
    dinsos, other = users["dinsos"].username, users["bapenda"].username
    assert sorted(seen, key=str) == sorted(
        [("response", dinsos, None)] * 2
        + [("response", dinsos, "gateway")] * (QUOTA - 2)
        + [("throttled", dinsos, "gateway"), ("throttled", dinsos, None)]
        + [("denied", other, "gateway")],
        key=str,
    )
    for event in events:
        assert errors_of("audit-event", event) == [], event
        assert "@gateway" not in event["requester"]
    from splp.audit import screen

    assert all(screen(event)[1] is None for event in events)  # the sink stores them unflagged
