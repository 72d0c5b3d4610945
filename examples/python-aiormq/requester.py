"""Calling an SPLP service with a plain AMQP client (aiormq) and the standard library only,
following docs/wire-protocol.md section 5 and nothing else: no ``splp`` import.

    SPLP_AMQP_URL=amqp://dinsos:PASSWORD@127.0.0.1:5672/splp python requester.py \\
        kependudukan dukcapil.penduduk.v1 get-by-nik '{"nik": "1508010101900001"}'

Prints the reply (JSON) on stdout and exits 0; otherwise one line on stderr and the exit
code of the splp CLI: 1 a problem reply, 2 bad usage, 3 refused (by the broker, or a
401/403 problem), 4 no such service or broker unreachable, 5 timeout. The same calling
convention as examples/node-requester/requester.mjs, which ``splp conformance call``
relies on.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aiormq
from aiormq import spec
from aiormq.abc import DeliveredMessage

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


class CallFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def fail(code: int, message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def broker_url() -> str:
    """The vhost is the URL's path (§2); without one, SPLP_VHOST (default splp)."""
    url = os.environ.get("SPLP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/splp")
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        vhost = os.environ.get("SPLP_VHOST", "splp")
        parts = parts._replace(path="/" + quote(vhost, safe=""))
    return urlunsplit(parts)


def outcome(reply: DeliveredMessage) -> Any:
    """The result, or CallFailed for a problem; a reply without an integer splp-status in
    100-599 or with a body that is not JSON is a 502 (§6.3)."""
    status = (reply.header.properties.headers or {}).get("splp-status")
    try:
        body = json.loads(reply.body.decode("utf-8"))
    except ValueError:
        status, body = 502, {"type": "urn:splp:problem:upstream-error", "title": "Malformed reply"}
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        status, body = 502, {"type": "urn:splp:problem:upstream-error", "title": "Malformed reply"}
    if status < 400:
        return body
    problem = body if isinstance(body, dict) else {}
    detail = problem.get("detail") or problem.get("title")
    raise CallFailed(3 if status in (401, 403) else 1, f"{status} {problem.get('type')}: {detail}")


async def call(
    url: str, theme: str, service: str, operation: str, payload: Any, timeout: float
) -> Any:
    user = unquote(urlsplit(url).username or "guest")
    try:
        connection = await aiormq.connect(url)
    except aiormq.exceptions.ProbableAuthenticationError as exc:
        raise CallFailed(3, f"cannot connect to the broker: {exc!r}") from None
    except (OSError, aiormq.exceptions.AMQPError) as exc:
        raise CallFailed(4, f"cannot connect to the broker: {exc!r}") from None
    try:
        channel = await connection.channel(publisher_confirms=True)  # §5.1 step 1
        message_id = uuid.uuid4().hex
        reply: asyncio.Future[DeliveredMessage] = asyncio.get_running_loop().create_future()

        async def on_reply(message: DeliveredMessage) -> None:
            if message.header.properties.correlation_id == message_id and not reply.done():
                reply.set_result(message)  # any other correlation_id: a late reply, ignored

        # step 2: the same channel, no-ack, before publishing
        await channel.basic_consume(DIRECT_REPLY_TO, on_reply, no_ack=True)
        now = time.time()
        properties = spec.Basic.Properties(
            message_id=message_id,  # the idempotency key
            correlation_id=message_id,
            reply_to=DIRECT_REPLY_TO,
            user_id=user,  # checked by the broker against the login
            timestamp=datetime.fromtimestamp(int(now), tz=UTC),
            expiration=str(max(1, int(timeout * 1000))),
            content_type="application/json",
            message_type=operation,
            delivery_mode=1,
            headers={"splp-protocol": 1, "splp-deadline": int((now + timeout) * 1000)},
        )
        try:
            await channel.basic_publish(  # step 3
                json.dumps(payload).encode(),
                exchange=f"splp.theme.{theme}",
                routing_key=f"{service}.{operation}",
                properties=properties,
                mandatory=True,
            )
        except aiormq.exceptions.PublishError:  # basic.return 312 NO_ROUTE
            raise CallFailed(4, f"no service bound for {service}.{operation}") from None
        except aiormq.exceptions.ChannelAccessRefused as exc:
            raise CallFailed(3, f"the broker refused the call: {exc!r}") from None
        except aiormq.exceptions.AMQPError as exc:
            raise CallFailed(4, f"the broker refused the call: {exc!r}") from None
        try:
            return outcome(await asyncio.wait_for(reply, timeout))
        except TimeoutError:
            raise CallFailed(5, "no reply in time") from None
    finally:
        await connection.close()


def main(argv: list[str]) -> None:
    if len(argv) not in (4, 5):
        fail(2, "usage: python requester.py THEME SERVICE OPERATION JSON [TIMEOUT_SECONDS]")
    theme, service, operation, text = argv[:4]
    try:
        payload = json.loads(text)
    except ValueError as exc:
        fail(2, f"the payload is not JSON: {exc}")
    timeout = float(argv[4]) if len(argv) == 5 else 10.0
    try:
        result = asyncio.run(call(broker_url(), theme, service, operation, payload, timeout))
    except CallFailed as failed:
        fail(failed.code, str(failed))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
