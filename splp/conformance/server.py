"""``splp conformance serve``: the SDK's requester and raw probes against a server under test.

The server serves the doc's example service (``dukcapil.penduduk.v1``, theme
``kependudukan``, operation ``get-by-nik`` with the request schema of
``splp/demo/penduduk.yaml``): NIK ``1508010101900001`` is a resident, any other valid NIK
is a 404. Each check below is one MUST of wire protocol §17, in the order of §6.2.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiormq
import orjson

from splp.bus.client import Client
from splp.bus.names import AUDIT_EXCHANGE
from splp.conformance.checklist import Checklist, Failed, expect
from splp.conformance.probe import WAIT, Probe, Reply
from splp.conformance.schemas import violations
from splp.conformance.subject import Server, environment
from splp.conformance.testbus import QUEUE, SERVICE, THEME, TestBus
from splp.errors import NotFound
from splp.settings import Settings

RESIDENT = "1508010101900001"
STRANGER = "1508019999999999"  # a valid NIK no server knows
START_TIMEOUT = 30.0


async def check_server(
    command: Sequence[str], settings: Settings, *, wait: float = WAIT
) -> Checklist:
    """Start ``command`` on a throw-away bus and check it against every server MUST,
    waiting ``wait`` seconds for each reply, dead letter or audit event that should come."""
    checklist = Checklist("serve")
    async with TestBus(settings) as bus:
        connection = await aiormq.connect(bus.settings.broker_url)
        try:
            probe = await Probe(connection, bus.settings.username, wait).open()
            env = environment(bus.publisher.url, bus.max_body_bytes)
            async with Server(command, env) as server:
                if await _started(connection, server):
                    await ServerChecks(checklist, probe, bus).run()
                else:
                    detail = f"exit code {server.exited}" if server.exited is not None else ""
                    checklist.checks.append(
                        _start_failure(detail or f"no consumer in {START_TIMEOUT:.0f} s", server)
                    )
        finally:
            await connection.close()
    return checklist


def _start_failure(detail: str, server: Server) -> Any:
    from splp.conformance.checklist import Check

    tail = server.stderr_tail().strip().splitlines()[-3:]
    return Check(
        "S-1", f"consumes {QUEUE}", False, "; ".join([f"the server did not start: {detail}", *tail])
    )


async def _started(connection: Any, server: Server) -> bool:
    """Wait until the server consumes the service queue (or exits)."""
    channel = await connection.channel()
    try:
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end and server.exited is None:
            declared = await channel.queue_declare(QUEUE, passive=True)
            if declared.consumer_count:
                return True
            await asyncio.sleep(0.1)
        return False
    finally:
        await channel.close()


class ServerChecks:
    def __init__(self, checklist: Checklist, probe: Probe, bus: TestBus) -> None:
        self.checklist = checklist
        self.probe = probe
        self.bus = bus
        self.sent_niks: set[str] = set()

    async def run(self) -> None:
        check = self.checklist.check
        await check("S-1", f"consumes {QUEUE} and answers the SDK requester", self.sdk_call)
        await check("S-2", "a reply carries the properties of §6.3", self.reply_properties)
        await check("S-3", "a problem reply follows §8 (the SDK raises NotFound)", self.problem)
        await check("S-4", "1a: a request through the default exchange is denied", self.injection)
        await check("S-5", "1b: a request without user_id is denied", self.no_user_id)
        await check(
            "S-6",
            "1a: an injection with a named reply_to: denied, not answered",
            self.injection_named_reply_to,
        )
        await check("S-7", "2a: a passed splp-deadline is dropped", self.expired)
        await check(
            "S-8",
            "2a: without splp-deadline, timestamp + expiration + 1 s decides",
            self.expired_by_fallback,
        )
        await check(
            "S-9",
            "2a: the fallback's extra second keeps a fresh request alive",
            self.fallback_slack,
        )
        await check("S-10", "2b: a request without reply_to is dropped", self.no_reply_to)
        await check("S-11", "2c: a named reply_to is dropped, never answered", self.named_reply_to)
        await check("S-12", "3a: an unknown operation is a 404", self.unknown_operation)
        await check("S-13", "3b: splp-protocol must be the integer 1", self.protocol_types)
        await check(
            "S-14", "3b: a string splp-deadline is refused, not ignored", self.deadline_type
        )
        await check("S-15", "4: a body over the limit is a 413 with max_body_bytes", self.too_large)
        await check("S-16", "5: a body that is not UTF-8 JSON (§5.3) is a 400", self.not_json)
        await check(
            "S-17",
            "6: a schema violation names pointers and repeats no value",
            self.schema_violation,
        )
        await check("S-18", "§11: audit messages follow the audit rules", self.audit_messages)
        await check("S-19", "§11: audit events carry no payload", self.audit_without_payload)
        self.checklist.not_checked(
            "S-20",
            "§6.1: the reply is published before the ack; never requeued",
            "not observable from outside the server",
        )
        self.checklist.not_checked(
            "S-21",
            "§11: audit events are published with confirms",
            "not observable from outside the server",
        )

    def body(self, nik: str = RESIDENT) -> dict[str, str]:
        self.sent_niks.add(nik)
        return {"nik": nik}

    async def event(self, properties: Any, kind: str, **members: Any) -> dict[str, Any]:
        routing_key, event = await self.probe.event(properties)
        expect(event.get("kind") == kind, f"audited as {event.get('kind')!r}, not {kind!r}")
        expected_key = f"{kind}.{THEME}.{SERVICE.publisher}.{SERVICE.service}"
        expect(
            routing_key == expected_key, f"audit routing key {routing_key!r}, not {expected_key!r}"
        )
        for name, value in members.items():
            expect(
                event.get(name) == value,
                f"audit event {name} is {event.get(name)!r}, not {value!r}",
            )
        problems = violations("audit-event", event)
        expect(not problems, f"the audit event breaks the schema: {problems}")
        return event

    async def answered(
        self, status: int, problem: str | None, properties: Any, kind: str = "response"
    ) -> Reply:
        reply = await self.probe.reply(properties)
        reply.expect(status, problem)
        await self.event(properties, kind, status=status)
        return reply

    async def dropped(self, properties: Any, kind: str, reason: str) -> None:
        await self.probe.dead_letter(properties)
        await self.probe.no_reply(properties)
        await self.event(properties, kind, reason=reason)

    # --- the checks -------------------------------------------------------------------

    async def sdk_call(self) -> None:
        client_settings = self.bus.settings
        async with Client(client_settings) as client:
            result = await client.call(THEME, str(SERVICE), "get-by-nik", self.body(), timeout=5)
        expect(
            isinstance(result, dict) and result.get("nik") == RESIDENT,
            f"the result is not the resident: {str(result)[:200]}",
        )

    async def reply_properties(self) -> None:
        properties = self.probe.properties()
        await self.probe.send(self.body(), properties)
        reply = await self.answered(200, None, properties)
        seen = reply.properties
        expect(seen.correlation_id == properties.correlation_id, "correlation_id not copied")
        expect(
            seen.content_type == "application/json",
            f"content_type {seen.content_type!r} with status 200",
        )
        headers = seen.headers or {}
        expect(
            headers.get("splp-protocol") == 1
            and not isinstance(headers.get("splp-protocol"), bool),
            f"splp-protocol {headers.get('splp-protocol')!r}, not the integer 1",
        )
        expect(reply.body is not None, "the body is not JSON")

    async def problem(self) -> None:
        async with Client(self.bus.settings) as client:
            try:
                await client.call(THEME, str(SERVICE), "get-by-nik", self.body(STRANGER), timeout=5)
            except NotFound:
                pass
            else:
                raise Failed("an unknown NIK was answered without a 404")
        properties = self.probe.properties()
        await self.probe.send(self.body(STRANGER), properties)
        reply = await self.answered(404, "not-found", properties)
        self.check_problem(reply)

    def check_problem(self, reply: Reply) -> None:
        expect(
            reply.properties.content_type == "application/problem+json",
            f"content_type {reply.properties.content_type!r} with status {reply.status!r}",
        )
        problems = violations("problem", reply.body)
        expect(not problems, f"the problem breaks schemas/problem.schema.json: {problems}")
        expect(reply.body.get("status") == reply.status, "the problem's status is not splp-status")

    async def injection(self) -> None:
        properties = self.probe.properties()
        await self.probe.inject(self.body(), properties)
        reply = await self.answered(403, "forbidden", properties, kind="denied")
        self.check_problem(reply)

    async def no_user_id(self) -> None:
        properties = self.probe.properties(user_id=None)
        await self.probe.send(self.body(), properties)
        await self.answered(403, "forbidden", properties, kind="denied")

    async def injection_named_reply_to(self) -> None:
        victim = await self.probe.watch.queue_declare("", exclusive=True, auto_delete=True)
        assert victim.queue
        properties = self.probe.properties(reply_to=victim.queue)
        await self.probe.inject(self.body(), properties)
        await self.probe.dead_letter(properties)
        await self.event(properties, "denied", reason="bad-reply-to", status=403)
        again = await self.probe.watch.queue_declare(victim.queue, passive=True)
        expect(again.message_count == 0, "a reply was pushed into the named queue")

    async def expired(self) -> None:
        past = int(time.time() * 1000) - 60_000
        properties = self.probe.properties(headers={"splp-protocol": 1, "splp-deadline": past})
        await self.probe.send(self.body(), properties)
        await self.dropped(properties, "dropped", "expired")

    def fallback(self, stamp: int, expiration_ms: int) -> Any:
        """A request without splp-deadline, sent at ``stamp`` (seconds) for ``expiration_ms``."""
        return self.probe.properties(
            timestamp=datetime.fromtimestamp(stamp, tz=UTC),
            expiration=str(expiration_ms),
            headers={"splp-protocol": 1},
        )

    async def expired_by_fallback(self) -> None:
        # timestamp + expiration + 1 s passed 4 s ago (the broker's TTL starts on arrival)
        properties = self.fallback(int(time.time()) - 10, 5000)
        await self.probe.send(self.body(), properties)
        await self.dropped(properties, "dropped", "expired")

    async def fallback_slack(self) -> None:
        # timestamp + expiration passed 300 ms ago; the extra second leaves 700 ms
        now_ms = int(time.time() * 1000)
        stamp = now_ms // 1000 - 2
        properties = self.fallback(stamp, now_ms - stamp * 1000 - 300)
        await self.probe.send(self.body(), properties)
        await self.answered(200, None, properties)

    async def no_reply_to(self) -> None:
        properties = self.probe.properties(reply_to=None)
        await self.probe.send(self.body(), properties)
        await self.dropped(properties, "dropped", "no-reply-to")

    async def named_reply_to(self) -> None:
        victim = await self.probe.watch.queue_declare("", exclusive=True, auto_delete=True)
        assert victim.queue
        properties = self.probe.properties(reply_to=victim.queue)
        await self.probe.send(self.body(), properties)
        await self.probe.dead_letter(properties)
        await self.event(properties, "dropped", reason="bad-reply-to")
        again = await self.probe.watch.queue_declare(victim.queue, passive=True)
        expect(again.message_count == 0, "a reply was pushed into the named queue")

    async def unknown_operation(self) -> None:
        properties = self.probe.properties(message_type="no-such-operation")
        await self.probe.send(self.body(), properties, routing_key=f"{SERVICE}.no-such-operation")
        reply = await self.answered(404, "not-found", properties)
        self.check_problem(reply)

    async def protocol_types(self) -> None:
        for value in (2, "1", True):
            properties = self.probe.properties(headers={"splp-protocol": value})
            await self.probe.send(self.body(), properties)
            try:
                await self.answered(400, "bad-request", properties)
            except Failed as failed:
                raise Failed(f"splp-protocol {value!r}: {failed}") from None
        properties = self.probe.properties(headers={})
        await self.probe.send(self.body(), properties)
        try:
            await self.answered(200, None, properties)
        except Failed as failed:
            raise Failed(f"no splp-protocol (read as 1): {failed}") from None

    async def deadline_type(self) -> None:
        future = str(int(time.time() * 1000) + 60_000)
        properties = self.probe.properties(headers={"splp-protocol": 1, "splp-deadline": future})
        await self.probe.send(self.body(), properties)
        await self.answered(400, "bad-request", properties)

    async def too_large(self) -> None:
        limit = self.bus.max_body_bytes
        properties = self.probe.properties()
        await self.probe.send({"nik": "0" * limit}, properties)
        reply = await self.answered(413, "payload-too-large", properties)
        self.check_problem(reply)
        expect(
            reply.body.get("max_body_bytes") == limit,
            f"max_body_bytes is {reply.body.get('max_body_bytes')!r}, not {limit}",
        )

    async def not_json(self) -> None:
        bodies = {
            "truncated": b'{"nik": "1508',
            "not UTF-8": b'{"nik": "\xff\xfe"}',
            "NaN": b'{"nik": NaN}',
            "a byte-order mark": b'\xef\xbb\xbf{"nik": "1508010101900001"}',
            "duplicate names": b'{"nik": "1508010101900001", "nik": "1508019999999999"}',
            "an unpaired surrogate": b'{"nik": "\\ud800"}',
        }
        for what, body in bodies.items():
            properties = self.probe.properties()
            await self.probe.send(body, properties)
            try:
                await self.answered(400, "bad-request", properties)
            except Failed as failed:
                raise Failed(f"{what}: {failed}") from None

    async def schema_violation(self) -> None:
        cases: list[tuple[Any, str]] = [({"nik": "15080101-SECRET"}, "/nik"), ({}, "/nik")]
        for body, pointer in cases:
            properties = self.probe.properties()
            await self.probe.send(body, properties)
            reply = await self.answered(400, "schema-violation", properties)
            self.check_problem(reply)
            pointers = [error.get("pointer") for error in reply.body.get("errors", [])]
            expect(
                pointer in pointers,
                f"{orjson.dumps(body).decode()}: pointers {pointers}, not {pointer!r}",
            )
            expect(
                "SECRET" not in orjson.dumps(reply.body).decode(),
                "the problem repeats a value of the request",
            )

    async def audit_messages(self) -> None:
        messages = self.probe.audit.messages
        expect(bool(messages), "no audit message at all")
        for message in messages:
            _check_audit_message(message)

    async def audit_without_payload(self) -> None:
        for message in self.probe.audit.messages:
            text = message.body.decode(errors="replace")
            leaked = [nik for nik in self.sent_niks if nik in text] + (
                ["SECRET"] if "SECRET" in text else []
            )
            expect(not leaked, f"an audit event carries request values: {leaked}")


def _check_audit_message(message: Any) -> None:
    """§11: a JSON array of valid events, sharing the routing key, with the properties."""
    key = message.routing_key
    try:
        events = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        raise Failed(f"{key}: the body is not JSON") from None
    expect(isinstance(events, list) and bool(events), f"{key}: the body is not a JSON array")
    properties = message.header.properties
    headers = properties.headers or {}
    first = events[0] if isinstance(events[0], dict) else {}
    expect(message.exchange == AUDIT_EXCHANGE, f"{key}: not published to {AUDIT_EXCHANGE}")
    expect(
        properties.content_type == "application/json",
        f"{key}: content_type {properties.content_type!r}",
    )
    expect(
        properties.delivery_mode == 2, f"{key}: delivery_mode {properties.delivery_mode!r}, not 2"
    )
    expect(
        properties.message_id == first.get("id"), f"{key}: message_id is not the first event's id"
    )
    expect(properties.message_type == first.get("kind"), f"{key}: type is not the events' kind")
    expect(bool(properties.user_id), f"{key}: no user_id, so the audit sink cannot know the sender")
    expect(
        headers.get("splp-protocol") == 1, f"{key}: splp-protocol {headers.get('splp-protocol')!r}"
    )
    expect(
        headers.get("splp-audit-count") == len(events),
        f"{key}: splp-audit-count {headers.get('splp-audit-count')!r}, {len(events)} events",
    )
    for event in events:
        problems = violations("audit-event", event)
        expect(not problems, f"{key}: an event breaks the schema: {problems}")
        parts = [event.get(part) or "-" for part in ("kind", "theme", "publisher", "service")]
        expected = ".".join(map(str, parts))
        expect(key == expected, f"routing key {key!r} for an event that needs {expected!r}")
        expect(
            event.get("publisher") == SERVICE.publisher,
            f"{key}: an event about another publisher's service",
        )
