"""Serving an SPLP service with a plain AMQP client (aiormq) and the standard library only,
following docs/wire-protocol.md sections 6 and 11 and nothing else: no ``splp`` import.

    SPLP_AMQP_URL=amqp://dukcapil:PASSWORD@127.0.0.1:5672/splp python server.py

It serves ``dukcapil.penduduk.v1`` (theme ``kependudukan``), operation ``get-by-nik``, from
a table of one resident, until SIGTERM or SIGINT. ``SPLP_MAX_BODY_BYTES`` is the
deployment's body limit (default 1 MiB, §12). ``splp conformance serve -- python server.py``
checks it against every MUST of the spec (tests/test_conformance.py runs that).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiormq
from aiormq import spec
from aiormq.abc import DeliveredMessage

PUBLISHER, SERVICE, MAJOR, THEME = "dukcapil", "penduduk", 1, "kependudukan"
REF = f"{PUBLISHER}.{SERVICE}.v{MAJOR}"
QUEUE = f"splp.svc.{REF}"
EXCHANGE = f"splp.theme.{THEME}"
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
LIMIT = int(os.environ.get("SPLP_MAX_BODY_BYTES", 1024 * 1024))
SOURCE = f"python-server:{REF}"
RESIDENTS = {
    "1508010101900001": {
        "nik": "1508010101900001",
        "name": "Siti Aminah",
        "village": "Sungai Binjai",
    }
}


class ProblemError(Exception):
    def __init__(self, status: int, name: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.problem = {
            "type": f"urn:splp:problem:{name}",
            "title": title,
            "status": status,
            "detail": detail,
            **extra,
        }


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", "Forbidden", detail)


def bad_request(detail: str) -> ProblemError:
    return ProblemError(400, "bad-request", "Bad request", detail)


async def get_by_nik(payload: dict[str, Any]) -> Any:
    resident = RESIDENTS.get(payload["nik"])
    if resident is None:
        raise ProblemError(404, "not-found", "Not found", "no resident with that NIK")
    return resident


OPERATIONS = {f"{REF}.get-by-nik": ("get-by-nik", get_by_nik)}


def is_integer(value: object) -> bool:
    """§5.3: a whole number, whatever the AMQP field type; never a boolean or a string."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def deadline_ms(properties: spec.Basic.Properties) -> float:
    """§6.2 check 2a: splp-deadline, else timestamp + expiration + 1 s, else none."""
    header = (properties.headers or {}).get("splp-deadline")
    if is_integer(header):
        return float(header)  # type: ignore[arg-type]
    if properties.timestamp is not None and (properties.expiration or "").isdigit():
        return properties.timestamp.timestamp() * 1000 + int(properties.expiration or 0) + 1000
    return float("inf")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({name for name, _ in pairs}) != len(pairs):
        raise ValueError("a duplicate member name")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _well_formed(value: Any) -> None:
    """No unpaired surrogate (json accepts "\\ud800"; UTF-8 cannot encode it)."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for name, item in value.items():
            name.encode("utf-8")
            _well_formed(item)
    elif isinstance(value, list):
        for item in value:
            _well_formed(item)


def strict_json(body: bytes) -> Any:
    """§5.3 "UTF-8 JSON": strict UTF-8 without a BOM, no NaN, no duplicate names."""
    value = json.loads(body.decode("utf-8"), object_pairs_hook=_unique, parse_constant=_no_constant)
    _well_formed(value)
    return value


def schema_errors(payload: Any) -> list[dict[str, str]]:
    """The request schema of get-by-nik, by hand; messages from the schema only (§8)."""
    if not isinstance(payload, dict):
        return [{"pointer": "", "message": "must be of type object"}]
    errors = []
    nik = payload.get("nik")
    if "nik" not in payload:
        errors.append({"pointer": "/nik", "message": "is required"})
    elif not isinstance(nik, str):
        errors.append({"pointer": "/nik", "message": "must be of type string"})
    elif not re.fullmatch(r"[0-9]{16}", nik):
        errors.append({"pointer": "/nik", "message": "must match the pattern ^[0-9]{16}$"})
    if set(payload) - {"nik"}:
        errors.append({"pointer": "", "message": "has members the schema does not allow"})
    return errors


async def answer(message: DeliveredMessage) -> tuple[int, Any, str | None]:
    """Checks 3a-6, then the handler: status, body, operation."""
    delivery = message.delivery
    assert isinstance(delivery, spec.Basic.Deliver)
    route = OPERATIONS.get(delivery.routing_key or "")
    if route is None:
        return (
            404,
            ProblemError(404, "not-found", "Not found", f"no operation of {REF}").problem,
            None,
        )
    operation, handler = route
    try:
        headers = message.header.properties.headers or {}
        protocol = headers.get("splp-protocol", 1)
        if not is_integer(protocol) or protocol != 1:
            raise bad_request("splp-protocol is not supported (this server speaks 1, an integer)")
        if "splp-deadline" in headers and not is_integer(headers["splp-deadline"]):
            raise bad_request("splp-deadline must be an AMQP integer (epoch milliseconds)")
        if len(message.body) > LIMIT:
            raise ProblemError(
                413,
                "payload-too-large",
                "Payload too large",
                f"the body is {len(message.body)} bytes; the limit is {LIMIT}",
                max_body_bytes=LIMIT,
            )
        try:
            payload = strict_json(message.body)
        except ValueError as exc:  # UnicodeError and JSONDecodeError are ValueErrors
            raise bad_request(f"body is not valid UTF-8 JSON: {type(exc).__name__}") from None
        errors = schema_errors(payload)
        if errors:
            raise ProblemError(
                400,
                "schema-violation",
                "Schema violation",
                f"the request does not match the schema of {operation}",
                errors=errors,
            )
        return 200, await handler(payload), operation
    except ProblemError as problem:
        return problem.problem["status"], problem.problem, operation
    except Exception as exc:  # the handler failed: never the payload in the log
        print(f"{SOURCE}: {operation} failed: {type(exc).__name__}", file=sys.stderr)
        return (
            500,
            ProblemError(500, "internal", "Internal error", "the service failed").problem,
            operation,
        )


class Server:
    def __init__(
        self, channel: aiormq.abc.AbstractChannel, audit: aiormq.abc.AbstractChannel
    ) -> None:
        self.channel = channel
        self.audit_channel = audit  # with publisher confirms (§11)
        self.broker_user = audit.connection.url.user or "guest"

    async def audit(
        self, kind: str, message: DeliveredMessage, started: float, **extra: Any
    ) -> None:
        """§11: one event per request, metadata only."""
        properties = message.header.properties
        event: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "kind": kind,
            "source": SOURCE,
            "theme": THEME,
            "publisher": PUBLISHER,
            "service": SERVICE,
            "major": MAJOR,
            "request_bytes": len(message.body),
            **extra,
        }
        for member, value in (
            ("requester", properties.user_id),
            ("message_id", properties.message_id),
            ("correlation_id", properties.correlation_id),
        ):
            if value:
                event[member] = value
        if kind != "dropped":
            event["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        try:
            await self.audit_channel.basic_publish(
                json.dumps([event]).encode(),
                exchange="splp.audit",
                routing_key=f"{kind}.{THEME}.{PUBLISHER}.{SERVICE}",
                properties=spec.Basic.Properties(
                    content_type="application/json",
                    delivery_mode=2,
                    message_id=event["id"],
                    message_type=kind,
                    user_id=self.broker_user,  # §11: the broker checks it, the sink trusts it
                    headers={"splp-protocol": 1, "splp-audit-count": 1},
                ),
            )
        except aiormq.exceptions.AMQPError as exc:
            print(f"{SOURCE}: an audit event was not confirmed: {exc!r}", file=sys.stderr)

    async def on_request(self, message: DeliveredMessage) -> None:
        started = time.perf_counter()
        properties = message.header.properties
        delivery = message.delivery
        assert isinstance(delivery, spec.Basic.Deliver) and delivery.delivery_tag is not None
        denied = None  # 1a, 1b: the caller first, so an injection is always audited as denied
        if delivery.exchange != EXCHANGE:
            denied = forbidden(f"requests must be published to {EXCHANGE}")
        elif not properties.user_id:
            denied = forbidden("the request carries no user_id, so no caller is known")
        reply_to = properties.reply_to or ""
        unanswerable = (  # 2a-2c: nobody can (safely) be told
            "expired"
            if deadline_ms(properties) < time.time() * 1000
            else "no-reply-to"
            if not reply_to
            else "bad-reply-to"
            if not reply_to.startswith(DIRECT_REPLY_TO)
            else None
        )
        if unanswerable:
            await self.channel.basic_reject(delivery.delivery_tag, requeue=False)  # -> splp.dlx
            if denied:
                await self.audit(
                    "denied", message, started, status=403, response_bytes=0, reason=unanswerable
                )
            else:
                await self.audit("dropped", message, started, reason=unanswerable)
            return
        if denied:
            status, result, operation = 403, denied.problem, None
        else:
            status, result, operation = await answer(message)
        body = json.dumps(result).encode()
        await self.channel.basic_publish(  # §6.3
            body,
            exchange="",
            routing_key=reply_to,
            properties=spec.Basic.Properties(
                correlation_id=properties.correlation_id,
                content_type="application/json" if status < 400 else "application/problem+json",
                delivery_mode=1,
                headers={"splp-protocol": 1, "splp-status": status},
            ),
        )
        await self.channel.basic_ack(delivery.delivery_tag)  # after the reply
        extra: dict[str, Any] = {"status": status, "response_bytes": len(body)}
        if operation:
            extra["operation"] = operation
        await self.audit("denied" if status == 403 else "response", message, started, **extra)


async def main() -> None:
    url = os.environ.get("SPLP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/splp")
    connection = await aiormq.connect(url, client_properties={"connection_name": SOURCE})
    channel = await connection.channel(publisher_confirms=False)
    server = Server(channel, await connection.channel(publisher_confirms=True))
    await channel.basic_qos(prefetch_count=64)  # §6.1 step 1
    await channel.basic_consume(QUEUE, server.on_request, no_ack=False)
    print(f"{SOURCE}: consuming {QUEUE}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
