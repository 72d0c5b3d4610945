"""``splp conformance call``: a requester under test calls an SDK adapter.

The kit serves the doc's example service with :class:`splp.adapters.Adapter` and starts
the requester once per call as ``COMMAND THEME SERVICE OPERATION JSON TIMEOUT_SECONDS``
(the calling convention of the doc's examples): it prints the result as JSON and exits 0,
or exits 1 on a problem reply, 3 when refused, 4 when there is no such service, 5 on a
timeout. A tap on the theme exchange shows the kit each request as it was published.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import aiormq
from aiormq import spec

from splp.adapters import Adapter, Problem, Request
from splp.bus.descriptor import ServiceDescriptor, parse_descriptor
from splp.bus.wire import loads
from splp.conformance.checklist import Checklist, Failed, expect
from splp.conformance.probe import Probe, envelope_of
from splp.conformance.schemas import violations
from splp.conformance.subject import Finished, environment, run_once
from splp.conformance.testbus import EXCHANGE, OPERATION, SERVICE, THEME, TestBus
from splp.errors import ContractError
from splp.settings import Settings

RECORD = {"nik": "1508010101900001", "name": "Siti Aminah", "village": "Sungai Binjai"}
STRANGER, STRAY, MALFORMED, SLOW = (
    "1508019999999999",
    "1508010101900009",
    "1508010101900008",
    "1508010101900007",
)
TIMEOUT = 5.0
SHORT_TIMEOUT = 2.0

DESCRIPTOR = {  # the doc's example service, as in splp/demo/penduduk.yaml
    "publisher": SERVICE.publisher,
    "service": SERVICE.service,
    "version": "1.0.0",
    "theme": THEME,
    "title": "Population register (conformance kit)",
    "classification": "personal",
    "operations": {
        OPERATION: {
            "request": {
                "type": "object",
                "required": ["nik"],
                "additionalProperties": False,
                "properties": {"nik": {"type": "string", "pattern": "^[0-9]{16}$"}},
            },
            "response": {"type": "object", "required": ["nik", "name", "village"]},
        }
    },
}


def descriptor() -> ServiceDescriptor:
    return parse_descriptor(DESCRIPTOR, "the conformance kit's service")


async def check_caller(command: Sequence[str], settings: Settings) -> Checklist:
    """Run the requester ``command`` against an SDK adapter; check every requester MUST."""
    checklist = Checklist("call")
    async with TestBus(settings) as bus:
        connection = await aiormq.connect(bus.settings.broker_url)
        try:
            probe = await Probe(connection, bus.settings.username).open()
            checks = CallerChecks(checklist, probe, bus, list(command))
            adapter = Adapter(
                descriptor(),
                {OPERATION: checks.get_by_nik},
                bus.settings,
                name="conformance-kit",
            )
            async with adapter:
                await checks.run()
        finally:
            await connection.close()
    return checklist


class CallerChecks:
    def __init__(
        self, checklist: Checklist, probe: Probe, bus: TestBus, command: list[str]
    ) -> None:
        self.checklist = checklist
        self.probe = probe
        self.bus = bus
        self.command = command
        self.env = environment(bus.requester.url, bus.max_body_bytes)

    async def get_by_nik(self, payload: dict[str, Any], request: Request) -> Any:
        """The kit's handler: each NIK makes the reply path misbehave in its own way."""
        nik = payload["nik"]
        if nik == STRAY:  # a reply to someone else's call comes first
            await self.reply_raw(request.reply_to, "not-" + request.correlation_id, 200)
        elif nik == MALFORMED:  # the first reply for this call has no splp-status
            await self.reply_raw(request.reply_to, request.correlation_id, None)
            await asyncio.sleep(0.3)
        elif nik == SLOW:
            await asyncio.sleep(SHORT_TIMEOUT + 1.5)
        elif nik != RECORD["nik"]:
            raise Problem.not_found("no resident with that NIK")
        return RECORD

    async def reply_raw(
        self, reply_to: str | None, correlation_id: str, status: int | None
    ) -> None:
        headers: dict[str, Any] = {"splp-protocol": 1}
        if status is not None:
            headers["splp-status"] = status
        await self.probe.channel.basic_publish(
            json.dumps({"stray": True}).encode(),
            exchange="",
            routing_key=reply_to or "",
            properties=spec.Basic.Properties(
                correlation_id=correlation_id, content_type="application/json", headers=headers
            ),
        )

    async def call(
        self, nik: str, timeout: float = TIMEOUT, service: str = str(SERVICE)
    ) -> Finished:
        args = [THEME, service, OPERATION, json.dumps({"nik": nik}), str(timeout)]
        return await run_once(self.command, args, self.env, timeout + 10)

    async def request_of(self, nik: str) -> Any:
        needle = nik.encode()
        found = await self.probe.requests.find(lambda m: needle in m.body)
        if found is None:
            raise Failed(f"no request reached {EXCHANGE} for NIK {nik}")
        return found

    async def run(self) -> None:
        check = self.checklist.check
        await check("R-1", "calls the service and prints the 200 result", self.result)
        await check("R-2", "publishes to the theme exchange with the routing key (§4)", self.route)
        await check("R-3", "the request properties and headers follow §5.2", self.envelope)
        await check("R-4", "splp-deadline and expiration carry the timeout", self.deadline)
        await check("R-5", "the body is the payload as UTF-8 JSON (§5.3)", self.body)
        await check("R-6", "a problem reply is an error", self.problem)
        await check("R-7", "a reply with another correlation_id is ignored", self.stray)
        await check("R-8", "a reply without splp-status is an error (502)", self.malformed)
        await check("R-9", "mandatory: no such service fails at once (basic.return)", self.no_route)
        await check("R-10", "gives up at its deadline", self.gives_up)
        await check("R-11", "every call has a fresh message_id", self.fresh_ids)

    async def result(self) -> None:
        finished = await self.call(RECORD["nik"])
        expect(finished.code == 0, f"exit code {finished.code}: {finished.stderr.strip()[-300:]}")
        try:
            printed = json.loads(finished.stdout)
        except ValueError:
            raise Failed(f"stdout is not the result as JSON: {finished.stdout[:200]!r}") from None
        expect(printed == RECORD, f"printed {printed!r}, not the result")

    async def route(self) -> None:
        request = await self.request_of(RECORD["nik"])
        expect(request.exchange == EXCHANGE, f"published to {request.exchange!r}")
        expected = f"{SERVICE}.{OPERATION}"
        expect(
            request.routing_key == expected,
            f"routing key {request.routing_key!r}, not {expected!r}",
        )

    async def envelope(self) -> None:
        request = await self.request_of(RECORD["nik"])
        envelope = envelope_of(request.header.properties)
        problems = violations("envelope", envelope)
        expect(not problems, f"breaks schemas/envelope.schema.json: {problems}")
        expect(envelope.get("user_id") == self.bus.requester.user, "user_id is not the login")
        expect(
            envelope.get("type") == OPERATION, f"type {envelope.get('type')!r}, not the operation"
        )
        reply_to = envelope.get("reply_to", "")
        expect(reply_to.startswith("amq.rabbitmq.reply-to"), f"reply_to {reply_to!r}")
        headers = envelope.get("headers", {})
        protocol = headers.get("splp-protocol")
        expect(protocol == 1 and not isinstance(protocol, bool), f"splp-protocol {protocol!r}")

    async def deadline(self) -> None:
        request = await self.request_of(RECORD["nik"])
        properties = request.header.properties
        deadline = (properties.headers or {}).get("splp-deadline")
        if not isinstance(deadline, int) or isinstance(deadline, bool):
            raise Failed(f"splp-deadline {deadline!r} is not an AMQP integer")
        stamp = properties.timestamp.timestamp() if properties.timestamp else 0.0
        expect(abs(stamp - time.time()) < 60, "timestamp is not now in POSIX seconds")
        left = deadline / 1000 - stamp
        expect(
            TIMEOUT - 2 <= left <= TIMEOUT + 2,
            f"splp-deadline is {left:.1f} s after the timestamp, for a {TIMEOUT:.0f} s timeout",
        )
        expiration = properties.expiration or ""
        expect(
            expiration.isdigit() and abs(int(expiration) - TIMEOUT * 1000) <= 1000,
            f"expiration {expiration!r} is not the timeout in milliseconds",
        )

    async def body(self) -> None:
        request = await self.request_of(RECORD["nik"])
        try:
            payload = loads(request.body)
        except ContractError as exc:
            raise Failed(str(exc)) from None
        expect(payload == {"nik": RECORD["nik"]}, "the body is not the payload")

    async def problem(self) -> None:
        finished = await self.call(STRANGER)
        expect(finished.code == 1, f"exit code {finished.code} for a 404 problem, not 1")

    async def stray(self) -> None:
        finished = await self.call(STRAY)
        expect(finished.code == 0, f"exit code {finished.code}: {finished.stderr.strip()[-300:]}")
        expect(json.loads(finished.stdout or "null") == RECORD, "took a reply to another call")

    async def malformed(self) -> None:
        finished = await self.call(MALFORMED)
        expect(finished.code == 1, f"exit code {finished.code} for a reply without splp-status")

    async def no_route(self) -> None:
        finished = await self.call(
            RECORD["nik"], service=f"{SERVICE.publisher}.{SERVICE.service}.v9"
        )
        expect(finished.code == 4, f"exit code {finished.code} for no such service, not 4")
        expect(
            finished.seconds < TIMEOUT / 2 + 1,
            f"took {finished.seconds:.1f} s: it waited instead of reading basic.return",
        )

    async def gives_up(self) -> None:
        finished = await self.call(SLOW, timeout=SHORT_TIMEOUT)
        expect(finished.code == 5, f"exit code {finished.code} after its timeout, not 5")
        expect(finished.seconds < SHORT_TIMEOUT + 3, f"gave up after {finished.seconds:.1f} s")

    async def fresh_ids(self) -> None:
        ids = [m.header.properties.message_id for m in self.probe.requests.messages]
        expect(len(ids) >= 2, "fewer than two requests seen")
        expect(all(ids) and len(set(ids)) == len(ids), "a message_id was missing or reused")
