"""A message whose AMQP short strings are not UTF-8 stalls no consumer (splp/bus/amqp_text.py).

RabbitMQ does not check the encoding of a message's ``message_id`` or other short strings.
Before the fix, pamqp's strict decoding ended the consumer's connection; the message came
back on the next connection and ended it again, forever: one publish by any requester
with a grant stopped the service. The audit sink's side is in tests/audit/test_poison.py.
"""

from __future__ import annotations

import json
from typing import Any

from aiormq.abc import AbstractConnection
from pamqp import encode

from splp.adapters import Adapter
from splp.settings import Settings
from tests.test_wire_raw import (  # noqa: F401 - fixtures
    NIK,
    ROUTING_KEY,
    RawCaller,
    adapter,
    raw,
    reply_of,
    served,
)


async def test_an_adapter_answers_after_a_message_id_that_is_not_utf8(
    adapter: Adapter,  # noqa: F811
    raw: AbstractConnection,  # noqa: F811
    broker: Settings,
) -> None:
    caller = await RawCaller(raw, broker.username).open()
    original = encode._string

    def lenient(encoder: Any, value: Any) -> bytes:
        if isinstance(value, bytes):
            return bytes(encoder.pack(len(value))) + value
        return original(encoder, value)

    encode._string = lenient  # pamqp refuses to encode it; the broker does not care
    try:
        bad = caller.properties("get-by-nik", message_id=b"\xff\xfe-not-utf8")
        await caller.publish(ROUTING_KEY, json.dumps({"nik": NIK}).encode(), bad)
    finally:
        encode._string = original
    good = caller.properties("get-by-nik")
    reply = await caller.call(ROUTING_KEY, json.dumps({"nik": NIK}).encode(), good)
    status, body = reply_of(reply)
    assert status == 200 and body["seen_message_id"] == good.message_id
