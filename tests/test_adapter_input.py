"""Bad input reaching an adapter: each gets a problem reply, or a clean drop with an audit event.

The requests here are published with raw aiormq, not the SDK, so that they can break the
contract in ways the SDK would refuse to.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiormq
import httpx
import orjson
import pytest
from aiormq import spec

from splp.adapters import Adapter
from splp.bus import Client
from splp.bus.audit_events import decode_audit_message
from splp.bus.names import AUDIT_EXCHANGE, DEAD_LETTER_QUEUE, DIRECT_REPLY_TO, queue_for
from splp.bus.wire import HEADER_DEADLINE, HEADER_STATUS, request_properties
from splp.errors import SchemaViolation
from splp.settings import Settings
from tests.services import HANDLERS, echo_descriptor

ECHO = echo_descriptor(service="echo-input")
EXCHANGE = "splp.theme.uji"
MARKER = "PAYLOAD-MARKER-3171"


class Raw:
    """A raw AMQP requester on direct reply-to, plus a tap on the audit exchange."""

    def __init__(self, connection: aiormq.abc.AbstractConnection) -> None:
        self.connection = connection
        self.replies: dict[str, asyncio.Future[aiormq.abc.DeliveredMessage]] = {}
        self.events: list[dict[str, Any]] = []

    async def open(self) -> None:
        self.channel = await self.connection.channel()
        await self.channel.basic_consume(DIRECT_REPLY_TO, self._on_reply, no_ack=True)
        tap = await self.connection.channel()
        queue = await tap.queue_declare(exclusive=True, auto_delete=True)
        await tap.queue_bind(queue.queue, AUDIT_EXCHANGE, routing_key="#")
        await tap.basic_consume(queue.queue, self._on_event, no_ack=True)

    async def _on_reply(self, message: aiormq.abc.DeliveredMessage) -> None:
        future = self.replies.pop(message.header.properties.correlation_id or "", None)
        if future is not None:
            future.set_result(message)

    async def _on_event(self, message: aiormq.abc.DeliveredMessage) -> None:
        self.events.extend(decode_audit_message(message.body))

    async def send(
        self,
        body: bytes,
        *,
        routing_key: str = f"{ECHO.ref}.echo",
        exchange: str = EXCHANGE,
        properties: spec.Basic.Properties | None = None,
        wait: bool = True,
    ) -> aiormq.abc.DeliveredMessage | None:
        correlation_id = uuid.uuid4().hex
        if properties is None:
            properties = request_properties(
                message_id=correlation_id,
                correlation_id=correlation_id,
                reply_to=DIRECT_REPLY_TO,
                user_id="guest",
                operation="echo",
                timeout=5,
                now=time.time(),
            )
        future = asyncio.get_running_loop().create_future()
        self.replies[properties.correlation_id or ""] = future
        await self.channel.basic_publish(
            body, exchange=exchange, routing_key=routing_key, properties=properties
        )
        if not wait:
            return None
        return await asyncio.wait_for(future, 5)

    async def event(self, message_id: str | None, timeout: float = 5) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for event in self.events:
                if event.get("message_id") == message_id:
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError(f"no audit event for {message_id}")


@pytest.fixture
async def raw(broker: Settings) -> AsyncIterator[Raw]:
    adapter = Adapter(
        ECHO, HANDLERS, broker.model_copy(update={"max_body_bytes": 4096}), declare_topology=True
    )
    await adapter.start()
    connection = await aiormq.connect(broker.broker_url)
    raw = Raw(connection)
    await raw.open()
    yield raw
    await adapter.stop(grace=5)
    await connection.close()


def problem_of(reply: aiormq.abc.DeliveredMessage | None) -> tuple[int, dict[str, Any]]:
    assert reply is not None
    return reply.header.properties.headers[HEADER_STATUS], orjson.loads(reply.body)


async def still_serves(broker: Settings) -> None:
    async with Client(broker) as client:
        assert (await client.call("uji", ECHO.ref, "echo", {"id": 42}, timeout=5))["id"] == 42


async def test_malformed_json_gets_400(raw: Raw, broker: Settings) -> None:
    status, problem = problem_of(await raw.send(b"{not json " + MARKER.encode()))
    assert (status, problem["type"]) == (400, "urn:splp:problem:bad-request")
    assert "not valid UTF-8 JSON" in problem["detail"]
    await still_serves(broker)


async def test_invalid_utf8_gets_400(raw: Raw) -> None:
    status, problem = problem_of(await raw.send(b"\xff\xfe\x00"))
    assert (status, problem["type"]) == (400, "urn:splp:problem:bad-request")


async def test_schema_violation_gets_400_with_pointers(raw: Raw) -> None:
    status, problem = problem_of(await raw.send(orjson.dumps({"id": "seven", "note": MARKER})))
    assert (status, problem["type"]) == (400, "urn:splp:problem:schema-violation")
    assert problem["errors"][0]["pointer"] == "/id"


async def test_a_non_object_body_is_a_schema_violation(raw: Raw) -> None:
    status, problem = problem_of(await raw.send(b"[1, 2, 3]"))
    assert (status, problem["type"]) == (400, "urn:splp:problem:schema-violation")


async def test_oversized_body_gets_413(raw: Raw, broker: Settings) -> None:
    status, problem = problem_of(await raw.send(orjson.dumps({"id": 1, "pad": "x" * 5000})))
    assert (status, problem["type"]) == (413, "urn:splp:problem:payload-too-large")
    assert "limit is 4096" in problem["detail"]
    await still_serves(broker)


async def test_unknown_operation_gets_404(raw: Raw) -> None:
    status, problem = problem_of(await raw.send(b"{}", routing_key=f"{ECHO.ref}.no-such-op"))
    assert (status, problem["type"]) == (404, "urn:splp:problem:not-found")


async def test_injection_through_the_default_exchange_gets_403_and_is_audited(raw: Raw) -> None:
    reply = await raw.send(orjson.dumps({"id": 1}), exchange="", routing_key=queue_for(ECHO.ref))
    status, problem = problem_of(reply)
    assert (status, problem["type"]) == (403, "urn:splp:problem:forbidden")
    event = await raw.event(reply.header.properties.correlation_id)
    assert event["kind"] == "denied" and event["status"] == 403


async def test_missing_reply_to_is_dropped_to_dead_letters_and_audited(
    raw: Raw, broker: Settings
) -> None:
    message_id = uuid.uuid4().hex
    props = spec.Basic.Properties(
        message_id=message_id,
        correlation_id=message_id,
        user_id="guest",
        content_type="application/json",
    )
    await raw.send(orjson.dumps({"id": 1}), properties=props, wait=False)
    event = await raw.event(message_id)
    assert (event["kind"], event["reason"]) == ("dropped", "no-reply-to")
    channel = await raw.connection.channel()
    empty_polls = 0
    while empty_polls < 50:  # other tests' drops may be queued before ours
        got = await channel.basic_get(DEAD_LETTER_QUEUE, no_ack=True)
        if isinstance(got.delivery, spec.Basic.GetEmpty):
            empty_polls += 1
            await asyncio.sleep(0.05)
        elif got.header.properties.message_id == message_id:
            break
    else:
        pytest.fail("the dropped request is not in the dead-letter queue")
    await still_serves(broker)


async def test_expired_deadline_is_dropped_and_audited(raw: Raw) -> None:
    message_id = uuid.uuid4().hex
    props = spec.Basic.Properties(
        message_id=message_id,
        correlation_id=message_id,
        reply_to=DIRECT_REPLY_TO,
        user_id="guest",
        headers={HEADER_DEADLINE: int((time.time() - 1) * 1000)},
    )
    await raw.send(orjson.dumps({"id": 1}), properties=props, wait=False)
    event = await raw.event(message_id)
    assert (event["kind"], event["reason"]) == ("dropped", "expired")
    assert message_id in raw.replies  # no reply was sent


async def test_audit_events_carry_metadata_only(raw: Raw) -> None:
    reply = await raw.send(orjson.dumps({"id": 5, "note": MARKER}))
    assert problem_of(reply)[0] == 200
    event = await raw.event(reply.header.properties.correlation_id)
    assert event["kind"] == "response" and event["operation"] == "echo"
    assert event["requester"] == "guest" and event["duration_ms"] >= 0
    assert MARKER not in orjson.dumps(raw.events).decode()


async def test_reply_to_a_named_queue_is_dropped_not_delivered(raw: Raw) -> None:
    """A caller must not make a service push its data into some other queue."""
    channel = await raw.connection.channel()
    victim = await channel.queue_declare(exclusive=True)
    message_id = uuid.uuid4().hex
    props = spec.Basic.Properties(
        message_id=message_id, correlation_id=message_id, reply_to=victim.queue, user_id="guest"
    )
    await raw.send(orjson.dumps({"id": 1}), properties=props, wait=False)
    event = await raw.event(message_id)
    assert (event["kind"], event["reason"]) == ("dropped", "bad-reply-to")
    assert (await channel.queue_declare(victim.queue, passive=True)).message_count == 0


async def test_a_request_without_user_id_gets_403(raw: Raw) -> None:
    correlation_id = uuid.uuid4().hex
    props = spec.Basic.Properties(
        message_id=correlation_id, correlation_id=correlation_id, reply_to=DIRECT_REPLY_TO
    )
    status, problem = problem_of(await raw.send(orjson.dumps({"id": 1}), properties=props))
    assert (status, problem["type"]) == (403, "urn:splp:problem:forbidden")
    assert "no user_id" in problem["detail"]
    assert (await raw.event(correlation_id))["kind"] == "denied"


async def test_an_unknown_protocol_version_gets_400(raw: Raw) -> None:
    correlation_id = uuid.uuid4().hex
    props = spec.Basic.Properties(
        message_id=correlation_id,
        correlation_id=correlation_id,
        reply_to=DIRECT_REPLY_TO,
        user_id="guest",
        headers={"splp-protocol": 2},
    )
    status, problem = problem_of(await raw.send(orjson.dumps({"id": 1}), properties=props))
    assert (status, problem["type"]) == (400, "urn:splp:problem:bad-request")
    assert "splp-protocol 2" in problem["detail"]


async def test_metrics_count_outcomes_without_naming_requesters(broker: Settings) -> None:
    from splp.http_server import free_port

    port = free_port()
    adapter = Adapter(
        echo_descriptor(service="echo-metrics"),
        HANDLERS,
        broker,
        declare_topology=True,
        metrics_port=port,
    )
    async with adapter, Client(broker) as client:
        ref = adapter.descriptor.ref
        for i in range(3):
            await client.call("uji", ref, "echo", {"id": i})
        with pytest.raises(SchemaViolation):
            await client.call("uji", ref, "echo", {"id": "x"})
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            assert (await http.get(f"http://127.0.0.1:{port}/other")).status_code == 404
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # stopping the adapter closed the port
            await http.get(f"http://127.0.0.1:{port}/metrics")
    labels = 'kind="response",operation="echo",service="uji.echo-metrics.v1"'
    assert f'splp_adapter_requests_total{{{labels},status="200"}} 3' in text
    assert f'splp_adapter_requests_total{{{labels},status="400"}} 1' in text
    assert (
        'splp_adapter_request_seconds_count{operation="echo",service="uji.echo-metrics.v1"} 4'
        in text
    )
    assert "splp_adapter_in_flight" in text and broker.username not in text
