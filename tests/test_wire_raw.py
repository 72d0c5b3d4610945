"""Interoperability on the real broker: plain AMQP peers written only from docs/wire-protocol.md.

The "raw" side of every test uses nothing but ``aiormq`` (AMQP 0-9-1 frames, no SPLP code),
the way a client in another language would: a raw requester calls a service served by the
SPLP :class:`~splp.adapters.Adapter`, and the SPLP :class:`~splp.bus.Client` calls a service
served by a raw consumer. What crosses the wire is checked against ``schemas/``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiormq
import pytest
from aiormq import spec
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from splp.adapters import Adapter, Problem, Request
from splp.bus import Client, ServiceBinding, ServiceDescriptor, ServiceRef, declare, topology_for
from splp.bus.descriptor import parse_descriptor
from splp.errors import NotFound, UpstreamError
from splp.settings import Settings
from tests.test_schemas import envelope_json, errors_of

NIK = "1508010101900001"
THEME = "kependudukan"
EXCHANGE = "splp.theme.kependudukan"
WAIT = 10.0


# --- the raw requester, from docs/wire-protocol.md section 5 -------------------------------


class RawCaller:
    """One channel consuming amq.rabbitmq.reply-to (no-ack) before anything is published."""

    def __init__(self, connection: AbstractConnection, user: str) -> None:
        self.connection = connection
        self.user = user
        self.pending: dict[str, asyncio.Future[DeliveredMessage]] = {}
        self.channel: AbstractChannel | None = None

    async def open(self) -> RawCaller:
        self.channel = await self.connection.channel(publisher_confirms=True)
        await self.channel.basic_consume("amq.rabbitmq.reply-to", self._on_reply, no_ack=True)
        return self

    async def _on_reply(self, message: DeliveredMessage) -> None:
        future = self.pending.pop(message.header.properties.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message)

    def properties(
        self, operation: str, timeout_ms: int = 5000, **changes: Any
    ) -> spec.Basic.Properties:
        now_ms = int(time.time() * 1000)
        values: dict[str, Any] = {
            "message_id": str(uuid.uuid4()),
            "correlation_id": uuid.uuid4().hex,
            "reply_to": "amq.rabbitmq.reply-to",
            "user_id": self.user,
            "timestamp": datetime.fromtimestamp(now_ms // 1000, tz=UTC),
            "expiration": str(timeout_ms),
            "content_type": "application/json",
            "message_type": operation,
            "delivery_mode": 1,
            "headers": {"splp-protocol": 1, "splp-deadline": now_ms + timeout_ms},
        }
        values.update(changes)
        return spec.Basic.Properties(**values)

    async def publish(
        self,
        routing_key: str,
        body: bytes,
        properties: spec.Basic.Properties,
        exchange: str = EXCHANGE,
    ) -> None:
        assert self.channel is not None
        await self.channel.basic_publish(
            body, exchange=exchange, routing_key=routing_key, properties=properties, mandatory=True
        )

    async def call(
        self,
        routing_key: str,
        body: bytes,
        properties: spec.Basic.Properties,
        exchange: str = EXCHANGE,
    ) -> DeliveredMessage:
        correlation_id = properties.correlation_id
        assert correlation_id
        future = asyncio.get_running_loop().create_future()
        self.pending[correlation_id] = future
        try:
            await self.publish(routing_key, body, properties, exchange)
            return await asyncio.wait_for(future, WAIT)
        finally:
            self.pending.pop(correlation_id, None)


async def tap(
    channel: AbstractChannel, exchange: str, routing_key: str
) -> asyncio.Queue[DeliveredMessage]:
    """A private queue bound to ``exchange`` with ``routing_key``, read into an asyncio queue."""
    declared = await channel.queue_declare("", exclusive=True, auto_delete=True)
    assert declared.queue
    await channel.queue_bind(declared.queue, exchange, routing_key=routing_key)
    inbox: asyncio.Queue[DeliveredMessage] = asyncio.Queue()
    await channel.basic_consume(declared.queue, inbox.put, no_ack=True)
    return inbox


async def next_matching(
    inbox: asyncio.Queue[DeliveredMessage], match: Callable[[DeliveredMessage], bool]
) -> DeliveredMessage:
    async def wait() -> DeliveredMessage:
        while True:
            message = await inbox.get()
            if match(message):
                return message

    return await asyncio.wait_for(wait(), WAIT)


def reply_of(message: DeliveredMessage) -> tuple[int, Any]:
    status = (message.header.properties.headers or {})["splp-status"]
    assert isinstance(status, int)
    return status, json.loads(message.body)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
async def raw(broker: Settings) -> AsyncIterator[AbstractConnection]:
    connection = await aiormq.connect(broker.broker_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def served(descriptor: ServiceDescriptor) -> ServiceDescriptor:
    """The demo descriptor under a service name of its own, so no other test shares the queue."""
    return parse_descriptor({**descriptor.model_dump(mode="json"), "service": "penduduk-raw"})


async def get_by_nik(payload: Any, request: Request) -> Any:
    if payload["nik"] != NIK:
        raise Problem.not_found("no resident with that NIK")
    return {
        "nik": NIK,
        "name": "Siti Aminah",
        "village": "Sungai Binjai",
        "seen_message_id": request.message_id,
        "seen_requester": request.requester,
    }


@pytest.fixture
async def adapter(
    served: ServiceDescriptor, make_adapter: Callable[..., Awaitable[Adapter]]
) -> Adapter:
    return await make_adapter(served, {"get-by-nik": get_by_nik})


ROUTING_KEY = "dukcapil.penduduk-raw.v1.get-by-nik"
AUDIT_KEY = "*.kependudukan.dukcapil.penduduk-raw"


def event_in(message: DeliveredMessage, field: str, value: Any) -> dict[str, Any] | None:
    """The event with ``field == value`` in an audit message (a JSON array of events)."""
    events = json.loads(message.body)
    assert isinstance(events, list), "an audit message body is a JSON array"
    return next((e for e in events if e.get(field) == value), None)


# --- (a) a raw requester calls the SPLP adapter ---------------------------------------------


async def test_raw_requester_calls_the_adapter(
    adapter: Adapter, raw: AbstractConnection, broker: Settings
) -> None:
    audit = await tap(await raw.channel(), "splp.audit", AUDIT_KEY)
    caller = await RawCaller(raw, broker.username).open()
    properties = caller.properties("get-by-nik")
    assert errors_of("envelope", envelope_json(properties)) == []

    reply = await caller.call(ROUTING_KEY, json.dumps({"nik": NIK}).encode(), properties)

    assert reply.header.properties.correlation_id == properties.correlation_id
    status, body = reply_of(reply)
    assert status == 200
    assert body["name"] == "Siti Aminah"
    assert body["seen_message_id"] == properties.message_id
    assert body["seen_requester"] == broker.username
    envelope = envelope_json(reply.header.properties)
    assert errors_of("envelope", envelope) == []
    assert envelope["content_type"] == "application/json"

    event = await next_matching(
        audit, lambda m: event_in(m, "correlation_id", properties.correlation_id) is not None
    )
    record = event_in(event, "correlation_id", properties.correlation_id)
    assert errors_of("audit-event", record) == []
    assert event.routing_key == "response.kependudukan.dukcapil.penduduk-raw"
    assert (record["kind"], record["status"], record["requester"]) == (
        "response",
        200,
        broker.username,
    )
    assert event.header.properties.message_id == json.loads(event.body)[0]["id"]
    assert event.header.properties.message_type == "response"
    assert (event.header.properties.headers or {}).get("splp-protocol") == 1
    assert "Siti" not in event.body.decode()


async def test_raw_requester_gets_a_problem_for_a_handler_error(
    adapter: Adapter, raw: AbstractConnection, broker: Settings
) -> None:
    caller = await RawCaller(raw, broker.username).open()
    properties = caller.properties("get-by-nik")
    reply = await caller.call(
        ROUTING_KEY, json.dumps({"nik": "1508010101909999"}).encode(), properties
    )
    status, problem = reply_of(reply)
    assert status == 404
    assert problem["type"] == "urn:splp:problem:not-found"
    assert errors_of("problem", problem) == []
    assert reply.header.properties.content_type == "application/problem+json"


# --- (c) malformed input from a raw requester -----------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem_type"),
    [
        (b'{"nik": "1508', "urn:splp:problem:bad-request"),
        (b"\xff\xfe not utf-8", "urn:splp:problem:bad-request"),
        (b'{"nik": 42}', "urn:splp:problem:schema-violation"),
        (b'{"nik": NaN}', "urn:splp:problem:bad-request"),
        (b'\xef\xbb\xbf{"nik": "1508010101900001"}', "urn:splp:problem:bad-request"),
        (b'{"nik": "1508010101900001", "nik": "1508010101900002"}', "urn:splp:problem:bad-request"),
    ],
    ids=["truncated-json", "not-utf8", "schema-violation", "nan", "bom", "duplicate-names"],
)
async def test_raw_requester_sending_bad_input_gets_a_400_problem(
    adapter: Adapter, raw: AbstractConnection, broker: Settings, body: bytes, problem_type: str
) -> None:
    caller = await RawCaller(raw, broker.username).open()
    properties = caller.properties("get-by-nik")
    reply = await caller.call(ROUTING_KEY, body, properties)

    assert reply.header.properties.correlation_id == properties.correlation_id
    assert reply.header.properties.content_type == "application/problem+json"
    status, problem = reply_of(reply)
    assert status == 400
    assert errors_of("problem", problem) == []
    assert errors_of("envelope", envelope_json(reply.header.properties)) == []
    assert problem["type"] == problem_type
    assert problem["status"] == 400
    if problem_type.endswith("schema-violation"):
        assert problem["errors"][0]["pointer"] == "/nik"


async def test_publishing_straight_to_the_service_queue_is_denied(
    adapter: Adapter, raw: AbstractConnection, broker: Settings
) -> None:
    audit = await tap(await raw.channel(), "splp.audit", AUDIT_KEY)
    caller = await RawCaller(raw, broker.username).open()
    properties = caller.properties("get-by-nik")
    reply = await caller.call(
        "splp.svc.dukcapil.penduduk-raw.v1",
        json.dumps({"nik": NIK}).encode(),
        properties,
        exchange="",
    )
    status, problem = reply_of(reply)
    assert (status, problem["type"]) == (403, "urn:splp:problem:forbidden")
    event = await next_matching(
        audit, lambda m: event_in(m, "correlation_id", properties.correlation_id) is not None
    )
    assert event.routing_key == "denied.kependudukan.dukcapil.penduduk-raw"
    assert (
        errors_of("audit-event", event_in(event, "correlation_id", properties.correlation_id)) == []
    )


async def test_no_such_service_comes_back_as_basic_return(
    adapter: Adapter, raw: AbstractConnection, broker: Settings
) -> None:
    caller = await RawCaller(raw, broker.username).open()
    with pytest.raises(aiormq.exceptions.PublishError) as returned:
        await caller.publish("dukcapil.no-such-service.v1.get", b"{}", caller.properties("get"))
    frame = returned.value.frame
    assert isinstance(frame, spec.Basic.Return)
    assert (frame.reply_code, frame.reply_text) == (312, "NO_ROUTE")


async def test_a_forged_user_id_is_refused_by_the_broker(
    adapter: Adapter, raw: AbstractConnection
) -> None:
    caller = await RawCaller(raw, "someone-else").open()
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
        await caller.publish(ROUTING_KEY, b"{}", caller.properties("get-by-nik"))


@pytest.mark.parametrize("reason", ["expired", "no-reply-to"])
async def test_requests_nobody_can_use_are_dropped_to_the_dead_letter_exchange(
    adapter: Adapter, raw: AbstractConnection, broker: Settings, reason: str
) -> None:
    watcher = await raw.channel()
    audit = await tap(watcher, "splp.audit", AUDIT_KEY)
    dead = await tap(watcher, "splp.dlx", ROUTING_KEY)
    caller = await RawCaller(raw, broker.username).open()
    if reason == "expired":
        past = int(time.time() * 1000) - 60_000
        properties = caller.properties(
            "get-by-nik", headers={"splp-protocol": 1, "splp-deadline": past}
        )
    else:
        properties = caller.properties("get-by-nik", reply_to=None)
    await caller.publish(ROUTING_KEY, json.dumps({"nik": NIK}).encode(), properties)

    letter = await next_matching(
        dead, lambda m: m.header.properties.message_id == properties.message_id
    )
    deaths = (letter.header.properties.headers or {})["x-death"]
    assert isinstance(deaths, list) and len(deaths) == 1
    death = deaths[0]
    assert isinstance(death, dict)
    assert death["reason"] == "rejected"
    assert death["queue"] == "splp.svc.dukcapil.penduduk-raw.v1"
    assert letter.routing_key == ROUTING_KEY
    assert letter.header.properties.expiration is None
    assert death["original-expiration"] == "5000"
    event = await next_matching(
        audit, lambda m: event_in(m, "message_id", properties.message_id) is not None
    )
    record = event_in(event, "message_id", properties.message_id)
    assert errors_of("audit-event", record) == []
    assert (record["kind"], record["reason"]) == ("dropped", reason)
    assert event.routing_key == "dropped.kependudukan.dukcapil.penduduk-raw"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"splp-protocol": "1"}, "splp-protocol '1' is not supported"),
        ({"splp-protocol": True}, "splp-protocol True is not supported"),
        ({"splp-protocol": 1, "splp-deadline": "4102444800000"}, "not a string field"),
        # (a float with a fraction cannot be sent from here: pamqp encodes floats as
        # 32-bit "f", where an epoch in ms is always whole; test_admission covers it)
        ({"splp-protocol": 1, "splp-deadline": True}, "not a boolean field"),
    ],
    ids=["protocol-string", "protocol-boolean", "deadline-string", "deadline-boolean"],
)
async def test_headers_of_another_type_are_refused_not_ignored(
    adapter: Adapter, raw: AbstractConnection, broker: Settings, headers: Any, detail: str
) -> None:
    caller = await RawCaller(raw, broker.username).open()
    properties = caller.properties("get-by-nik", headers=headers)
    reply = await caller.call(ROUTING_KEY, json.dumps({"nik": NIK}).encode(), properties)
    status, problem = reply_of(reply)
    assert (status, problem["type"]) == (400, "urn:splp:problem:bad-request")
    assert detail in problem["detail"]


async def test_a_string_deadline_that_has_passed_is_still_dropped(
    adapter: Adapter, raw: AbstractConnection, broker: Settings
) -> None:
    """The timestamp and expiration decide when the deadline header cannot be read."""
    watcher = await raw.channel()
    dead = await tap(watcher, "splp.dlx", ROUTING_KEY)
    caller = await RawCaller(raw, broker.username).open()
    properties = caller.properties(
        "get-by-nik",
        timestamp=datetime.fromtimestamp(int(time.time()) - 60, tz=UTC),
        headers={"splp-protocol": 1, "splp-deadline": str(int(time.time() * 1000) + 5000)},
    )
    await caller.publish(ROUTING_KEY, json.dumps({"nik": NIK}).encode(), properties)
    await next_matching(dead, lambda m: m.header.properties.message_id == properties.message_id)


async def test_an_injection_with_a_named_reply_to_is_denied_and_never_answered(
    adapter: Adapter, raw: AbstractConnection, broker: Settings
) -> None:
    """Issue 20, point 10: the caller is checked before the reply_to, so the abuse report
    counts the injection; the named queue it asked the reply to go to stays empty."""
    watcher = await raw.channel()
    audit = await tap(watcher, "splp.audit", AUDIT_KEY)
    dead = await tap(watcher, "splp.dlx", "#")
    victim = await watcher.queue_declare(f"victim-{uuid.uuid4().hex[:8]}", auto_delete=True)
    assert victim.queue
    caller = await RawCaller(raw, broker.username).open()
    properties = caller.properties("get-by-nik", reply_to=victim.queue)
    await caller.publish(
        "splp.svc.dukcapil.penduduk-raw.v1",
        json.dumps({"nik": NIK}).encode(),
        properties,
        exchange="",
    )
    await next_matching(dead, lambda m: m.header.properties.message_id == properties.message_id)
    event = await next_matching(
        audit, lambda m: event_in(m, "message_id", properties.message_id) is not None
    )
    record = event_in(event, "message_id", properties.message_id)
    assert errors_of("audit-event", record) == []
    assert (record["kind"], record["status"], record["reason"]) == ("denied", 403, "bad-reply-to")
    assert event.routing_key == "denied.kependudukan.dukcapil.penduduk-raw"
    assert (await watcher.queue_declare(victim.queue, passive=True)).message_count == 0


# --- (b) the SPLP client calls a raw service --------------------------------------------------

RAW_THEME = "uji-interop"
RAW_EXCHANGE = "splp.theme.uji-interop"
RAW_SERVICE = "interop.echo.v1"
RAW_QUEUE = "splp.svc.interop.echo.v1"


class RawServer:
    """A service written from docs/wire-protocol.md section 6, consuming with manual acks."""

    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel
        self.requests: list[DeliveredMessage] = []

    async def declare(self) -> None:
        """The topology of section 4, as the reconciler would declare it."""
        ch = self.channel
        for exchange in ("splp.dlx", "splp.audit", RAW_EXCHANGE):
            await ch.exchange_declare(exchange, exchange_type="topic", durable=True)
        await ch.queue_declare(
            "splp.dead-letters",
            durable=True,
            arguments={
                "x-queue-type": "classic",
                "x-message-ttl": 600_000,
                "x-max-length": 100_000,
            },
        )
        await ch.queue_bind("splp.dead-letters", "splp.dlx", routing_key="#")
        await ch.queue_declare(
            RAW_QUEUE,
            durable=True,
            arguments={"x-queue-type": "classic", "x-dead-letter-exchange": "splp.dlx"},
        )
        await ch.queue_bind(RAW_QUEUE, RAW_EXCHANGE, routing_key="interop.echo.v1.*")

    async def serve(self) -> str:
        await self.channel.basic_qos(prefetch_count=8)
        consume = await self.channel.basic_consume(RAW_QUEUE, self.on_request, no_ack=False)
        assert consume.consumer_tag
        return consume.consumer_tag

    @staticmethod
    def deadline_ms(properties: spec.Basic.Properties) -> float | None:
        deadline = (properties.headers or {}).get("splp-deadline")
        if isinstance(deadline, int | float):
            return float(deadline)
        if properties.timestamp and properties.expiration:
            return properties.timestamp.timestamp() * 1000 + int(properties.expiration)
        return None

    async def on_request(self, message: DeliveredMessage) -> None:
        self.requests.append(message)
        properties = message.header.properties
        delivery = message.delivery
        assert isinstance(delivery, spec.Basic.Deliver)
        tag = delivery.delivery_tag
        assert tag is not None
        deadline = self.deadline_ms(properties)
        if (deadline is not None and deadline < time.time() * 1000) or not properties.reply_to:
            await self.channel.basic_reject(tag, requeue=False)
            return
        status, result = self.answer(delivery, message.body, properties)
        headers: dict[str, Any] = {"splp-protocol": 1}
        if status is not None:
            headers["splp-status"] = status
        await self.channel.basic_publish(
            json.dumps(result).encode(),
            exchange="",
            routing_key=properties.reply_to,
            properties=spec.Basic.Properties(
                correlation_id=properties.correlation_id,
                content_type="application/json"
                if status is None or status < 400
                else "application/problem+json",
                delivery_mode=1,
                headers=headers,
            ),
        )
        await self.channel.basic_ack(tag)

    @staticmethod
    def problem(status: int, name: str, title: str, detail: str) -> tuple[int, dict[str, Any]]:
        return status, {
            "type": f"urn:splp:problem:{name}",
            "title": title,
            "status": status,
            "detail": detail,
        }

    def answer(
        self, delivery: spec.Basic.Deliver, body: bytes, properties: spec.Basic.Properties
    ) -> tuple[int | None, Any]:
        if delivery.exchange != RAW_EXCHANGE:
            return self.problem(
                403, "forbidden", "Forbidden", f"requests must be published to {RAW_EXCHANGE}"
            )
        if delivery.routing_key != "interop.echo.v1.echo":
            return self.problem(404, "not-found", "Not found", "no such operation")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self.problem(400, "bad-request", "Bad request", "body is not valid UTF-8 JSON")
        if payload.get("find") == "nobody":
            return self.problem(404, "not-found", "Not found", "no resident with that NIK")
        if payload.get("forget-status"):
            return None, {"oops": True}
        return 200, {"echo": payload, "requester": properties.user_id}


@pytest.fixture
async def raw_server(raw: AbstractConnection, broker: Settings) -> AsyncIterator[RawServer]:
    server = RawServer(await raw.channel(publisher_confirms=False))
    await server.declare()
    tag = await server.serve()
    yield server
    if not server.channel.is_closed:
        await server.channel.basic_cancel(tag)


async def test_the_doc_topology_matches_what_splp_declares(
    raw_server: RawServer, broker: Settings
) -> None:
    # RabbitMQ refuses (PRECONDITION_FAILED) a redeclaration with other arguments, so this
    # fails if the arguments in docs/wire-protocol.md section 4 differ from topology.py.
    connection = await aiormq.connect(broker.broker_url)
    try:
        binding = ServiceBinding(RAW_THEME, ServiceRef.parse(RAW_SERVICE))
        await declare(await connection.channel(), topology_for([binding]))
    finally:
        await connection.close()


async def test_splp_client_calls_a_raw_service(raw_server: RawServer, broker: Settings) -> None:
    async with Client(broker) as client:
        result = await client.call(RAW_THEME, RAW_SERVICE, "echo", {"nik": NIK}, timeout=5)

    assert result == {"echo": {"nik": NIK}, "requester": broker.username}
    [request] = raw_server.requests
    envelope = envelope_json(request.header.properties)
    assert errors_of("envelope", envelope) == []
    assert request.exchange == RAW_EXCHANGE
    assert request.routing_key == "interop.echo.v1.echo"
    assert envelope["type"] == "echo"
    assert envelope["user_id"] == broker.username
    assert envelope["reply_to"].startswith("amq.rabbitmq.reply-to.")
    assert 4000 <= int(envelope["expiration"]) <= 5000
    deadline = envelope["headers"]["splp-deadline"]
    assert 0 < deadline - time.time() * 1000 <= 5000


async def test_splp_client_turns_a_raw_problem_into_its_exception(
    raw_server: RawServer, broker: Settings
) -> None:
    async with Client(broker) as client:
        with pytest.raises(NotFound) as caught:
            await client.call(RAW_THEME, RAW_SERVICE, "echo", {"find": "nobody"}, timeout=5)
    assert caught.value.status == 404
    assert caught.value.detail == "no resident with that NIK"


async def test_splp_client_treats_a_reply_without_status_as_502(
    raw_server: RawServer, broker: Settings
) -> None:
    async with Client(broker) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.call(RAW_THEME, RAW_SERVICE, "echo", {"forget-status": True}, timeout=5)
    assert caught.value.status == 502
