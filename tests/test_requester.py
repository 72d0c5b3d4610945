"""The requester SDK against the real broker: RPC, concurrency, timeouts, routing, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from splp.adapters import http_adapter, load_http_config
from splp.bus import Client, SyncClient
from splp.bus.management import Management
from splp.errors import (
    AccessDenied,
    ConnectionLost,
    ContractError,
    InternalError,
    NotFound,
    RequestTimeout,
    SchemaViolation,
    ServiceUnavailable,
)
from splp.settings import Settings
from tests.conftest import DEMO
from tests.logcapture import SECRETS
from tests.services import HANDLERS, echo_descriptor

ECHO = echo_descriptor()


async def test_end_to_end_through_the_http_adapter(broker: Settings, od_api: str) -> None:
    config, descriptor = load_http_config(DEMO / "adapter.yaml")
    config.base_url = od_api
    adapter = http_adapter(config, descriptor, broker, declare_topology=True)
    await adapter.start()
    try:
        async with Client(broker) as client:
            resident = await client.call(
                "kependudukan", "dukcapil.penduduk.v1", "get-by-nik", {"nik": "1508010101900001"}
            )
            assert resident["name"] == "Siti Aminah"
            with pytest.raises(NotFound, match="no resident"):
                await client.call(
                    "kependudukan",
                    "dukcapil.penduduk.v1",
                    "get-by-nik",
                    {"nik": "1508019999999999"},
                )
            with pytest.raises(SchemaViolation) as info:
                await client.call("kependudukan", "dukcapil.penduduk.v1", "get-by-nik", {"nik": 7})
            assert info.value.problem["errors"][0]["pointer"] == "/nik"
    finally:
        await adapter.stop(grace=5)


async def test_500_concurrent_calls_each_get_their_own_reply(
    broker: Settings, make_adapter
) -> None:
    await make_adapter(ECHO, HANDLERS, prefetch=100)
    async with Client(broker) as client:
        replies = await asyncio.gather(
            *(client.call("uji", ECHO.ref, "echo", {"id": i}, timeout=30) for i in range(500))
        )
    assert [r["id"] for r in replies] == list(range(500))
    assert {r["requester"] for r in replies} == {broker.username}


async def test_a_call_times_out_at_its_deadline(broker: Settings, make_adapter) -> None:
    await make_adapter(ECHO, HANDLERS)
    async with Client(broker) as client:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await client.call("uji", ECHO.ref, "echo", {"id": 1, "delay": 2.0}, timeout=0.3)
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 1.0
        # the client is still usable, and the late reply did not confuse a later call
        reply = await client.call("uji", ECHO.ref, "echo", {"id": 2}, timeout=5)
        assert reply["id"] == 2


async def test_an_unroutable_service_fails_at_once(broker: Settings, make_adapter) -> None:
    await make_adapter(ECHO, HANDLERS)  # declares the theme exchange, not the other service
    async with Client(broker) as client:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="no service is bound"):
            await client.call("uji", "uji.nothing.v1", "echo", {"id": 1}, timeout=10)
        with pytest.raises(ServiceUnavailable, match="no such exchange"):
            await client.call("no-such-theme", ECHO.ref, "echo", {"id": 1}, timeout=10)
        assert time.monotonic() - started < 2
        assert (await client.call("uji", ECHO.ref, "echo", {"id": 3}))["id"] == 3


async def test_handler_failures_come_back_as_typed_errors(broker: Settings, make_adapter) -> None:
    await make_adapter(ECHO, HANDLERS)
    async with Client(broker) as client:
        with pytest.raises(InternalError) as info:
            await client.call("uji", ECHO.ref, "fail", {})
        assert "handler bug" not in str(info.value.problem)
        with pytest.raises(InternalError, match="broke its schema"):
            await client.call("uji", ECHO.ref, "bad-response", {})


async def test_bad_arguments_are_refused_before_anything_is_sent(broker: Settings) -> None:
    async with Client(broker.model_copy(update={"max_body_bytes": 100})) as client:
        with pytest.raises(ContractError, match="limit is 100"):
            await client.call("uji", ECHO.ref, "echo", {"id": 1, "pad": "x" * 200})
        with pytest.raises(ContractError, match=r"PUBLISHER\.SERVICE\.vMAJOR"):
            await client.call("uji", "uji.echo", "echo", {"id": 1})
        with pytest.raises(ContractError, match="invalid theme"):
            await client.call("Uji.#", ECHO.ref, "echo", {"id": 1})
        with pytest.raises(ContractError, match="timeout"):
            await client.call("uji", ECHO.ref, "echo", {"id": 1}, timeout=0)


@pytest.fixture
async def restricted_requester(broker: Settings, management: httpx.AsyncClient):
    """A broker user allowed exactly one routing key, as the reconciler will configure it."""
    user = f"splp-test-{uuid.uuid4().hex[:8]}"
    password = SECRETS.add(uuid.uuid4().hex, "broker password")
    vhost = quote(broker.vhost, safe="")
    (
        await management.put(f"/api/users/{user}", json={"password": password, "tags": ""})
    ).raise_for_status()
    (
        await management.put(
            f"/api/permissions/{vhost}/{user}",
            json={"configure": "^$", "write": r"^splp\.theme\.uji$", "read": "^$"},
        )
    ).raise_for_status()
    (
        await management.put(
            f"/api/topic-permissions/{vhost}/{user}",
            json={"exchange": "splp.theme.uji", "write": r"^uji\.echo\.v1\.echo$", "read": "^$"},
        )
    ).raise_for_status()
    url = httpx.URL(broker.broker_url).copy_with(username=user, password=password)
    yield Settings(vhost=broker.vhost, amqp_url=str(url.copy_with(path="/")))
    await management.delete(f"/api/users/{user}")


async def test_access_refused_fails_only_that_destination(
    broker: Settings, make_adapter, restricted_requester: Settings
) -> None:
    await make_adapter(ECHO, HANDLERS)
    async with Client(restricted_requester) as client:
        slow = [
            asyncio.create_task(
                client.call("uji", ECHO.ref, "echo", {"id": i, "delay": 0.5}, timeout=10)
            )
            for i in range(20)
        ]
        await asyncio.sleep(0.1)
        with pytest.raises(AccessDenied, match="ACCESS_REFUSED"):
            await client.call("uji", ECHO.ref, "fail", {}, timeout=10)
        with pytest.raises(AccessDenied):
            await client.call("uji", "uji.other.v1", "echo", {"id": 1}, timeout=10)
        replies = await asyncio.gather(*slow)
        assert [r["id"] for r in replies] == list(range(20))
        assert {r["requester"] for r in replies} == {restricted_requester.username}
        # the refused destination gets a fresh channel on the next call, and is refused again
        with pytest.raises(AccessDenied):
            await client.call("uji", ECHO.ref, "fail", {}, timeout=10)
        assert (await client.call("uji", ECHO.ref, "echo", {"id": 99}))["id"] == 99


async def test_connection_loss_fails_calls_in_flight_fast_then_reconnects(
    broker: Settings, make_adapter
) -> None:
    await make_adapter(ECHO, HANDLERS)
    name = f"splp-test-{uuid.uuid4().hex[:8]}"
    async with Client(broker, name=name) as client, Management(broker) as management:
        assert (await client.call("uji", ECHO.ref, "echo", {"id": 0}))["id"] == 0
        for _ in range(100):  # the management API lists a connection some seconds after it opens
            names = [
                (c.get("client_properties") or {}).get("connection_name")
                for c in await management.connections(broker.vhost)
            ]
            if name in names:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the client's connection never appeared in the management API")
        in_flight = [
            asyncio.create_task(
                client.call("uji", ECHO.ref, "echo", {"id": i, "delay": 5}, timeout=30)
            )
            for i in range(10)
        ]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        assert await management.close_connections(broker.vhost, name=name) == 1
        results = await asyncio.gather(*in_flight, return_exceptions=True)
        assert all(isinstance(r, ConnectionLost) for r in results), results
        assert time.monotonic() - started < 3  # far below the 30 s timeout
        reply = await client.call("uji", ECHO.ref, "echo", {"id": 1}, timeout=15)
        assert reply["id"] == 1


async def test_calls_queued_on_a_channel_when_the_connection_dies_fail_with_connection_lost(
    broker: Settings, make_adapter
) -> None:
    """Calls waiting for their turn to publish on a channel, or opening a channel, when the
    connection dies: they raised aiormq's RuntimeError (``ChannelInvalidStateError``, "...
    closed"), not an SPLP error (seen under load on the cluster, tests/cluster/test_chaos.py).
    """
    await make_adapter(ECHO, HANDLERS)
    async with Client(broker) as client:
        assert (await client.call("uji", ECHO.ref, "echo", {"id": 0}))["id"] == 0
        for round in range(3):
            connection = await client._connection.wait_ready(5)
            calls = [
                asyncio.create_task(client.call("uji", ECHO.ref, op, {"id": i}, timeout=10))
                for i in range(300)
                for op in ("echo", "fail")
            ]
            await asyncio.sleep(0.005 * round)
            await connection.close()
            results = await asyncio.gather(*calls, return_exceptions=True)
            odd = [
                r
                for r in results
                if isinstance(r, BaseException)
                and not isinstance(r, (ConnectionLost, InternalError))
            ]
            assert not odd, odd[:3]
        reply = await client.call("uji", ECHO.ref, "echo", {"id": 3}, timeout=15)
        assert reply["id"] == 3


async def test_the_sync_facade_calls_and_raises(broker: Settings, make_adapter) -> None:
    await make_adapter(ECHO, HANDLERS)

    def script() -> dict:
        with SyncClient(broker) as client:
            with pytest.raises(NotFound, match="not an operation"):
                client.call("uji", str(ECHO.ref), "nope", {}, timeout=5)
            return client.call("uji", str(ECHO.ref), "echo", {"id": 5}, timeout=5)

    # the script blocks its own thread; the adapter keeps running on this loop meanwhile
    assert (await asyncio.to_thread(script))["id"] == 5


async def test_idle_channels_are_closed_beyond_max_routes(broker: Settings, make_adapter) -> None:
    await make_adapter(ECHO, HANDLERS)
    async with Client(broker, max_routes=2) as client:
        for operation in ("echo", "fail", "bad-response", "echo"):
            with contextlib.suppress(InternalError):
                await client.call("uji", ECHO.ref, operation, {"id": 1})
        assert len(client._routes) == 2
        assert list(client._routes) == [
            ("splp.theme.uji", f"{ECHO.ref}.bad-response"),
            ("splp.theme.uji", f"{ECHO.ref}.echo"),
        ]


async def test_a_hung_handler_is_cancelled_at_the_deadline_and_frees_its_slot(
    broker: Settings, make_adapter
) -> None:
    """With one prefetch slot, a handler that never returns would hold the service for
    good; cancelled at the request's deadline, it frees the slot for the next call."""
    cancelled = asyncio.Event()

    async def hang(payload: object, request: object) -> object:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    adapter = await make_adapter(ECHO, {**HANDLERS, "fail": hang}, prefetch=1)
    async with Client(broker) as client:
        with pytest.raises(RequestTimeout):
            await client.call("uji", ECHO.ref, "fail", {}, timeout=0.5)
        await asyncio.wait_for(cancelled.wait(), 2)
        reply = await client.call("uji", ECHO.ref, "echo", {"id": 3}, timeout=3)
        assert reply["id"] == 3
        assert adapter.in_flight == 0
    answered = adapter.metrics.registry.get_sample_value(
        "splp_adapter_requests_total",
        {"service": str(ECHO.ref), "operation": "fail", "status": "408", "kind": "response"},
    )
    assert answered == 1
