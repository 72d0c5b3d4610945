"""Hypothesis throws arbitrary bodies, headers and properties at a live adapter.

Whatever arrives, the adapter answers with a 200 or a valid problem (never anything else),
or drops the request cleanly, and keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiormq
import jsonschema
import orjson
import pytest
from aiormq import spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splp.adapters import Adapter
from splp.bus import Client
from splp.bus.names import DIRECT_REPLY_TO
from splp.bus.wire import HEADER_DEADLINE, HEADER_STATUS
from splp.settings import Settings
from tests.services import HANDLERS, echo_descriptor

ECHO = echo_descriptor(service="echo-fuzz")
PROBLEM = json.loads((Path(__file__).parent.parent / "schemas" / "problem.schema.json").read_text())
STATUSES = {400, 403, 404, 408, 413, 429, 500, 502, 504}

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# RabbitMQ 3.10 cannot parse some float field values pamqp encodes (it closes the
# publisher's connection with INTERNAL_ERROR), so header values here are not floats.
header_values = st.one_of(st.none(), st.booleans(), int64, st.text(max_size=40))
headers = st.dictionaries(
    st.sampled_from([HEADER_DEADLINE, "splp-protocol", "traceparent", "x-other"])
    | st.text(max_size=10),
    header_values,
    max_size=4,
)
json_values = st.recursive(
    st.none() | st.booleans() | int64 | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=512),
    json_values.map(orjson.dumps),
    st.fixed_dictionaries({"id": int64}, optional={"delay": st.floats(0, 0.01)}).map(orjson.dumps),
)
routing_keys = st.sampled_from(
    [f"{ECHO.ref}.echo", f"{ECHO.ref}.fail", f"{ECHO.ref}.bad-response", f"{ECHO.ref}.nope"]
)
texts = st.one_of(st.none(), st.text(max_size=60))


class Fuzzer:
    def __init__(self, connection: aiormq.abc.AbstractConnection) -> None:
        self.connection = connection
        self.replies: dict[str, asyncio.Future[aiormq.abc.DeliveredMessage]] = {}

    async def open(self) -> None:
        self.channel = await self.connection.channel()
        await self.channel.basic_consume(DIRECT_REPLY_TO, self.on_reply, no_ack=True)

    async def on_reply(self, message: aiormq.abc.DeliveredMessage) -> None:
        future = self.replies.pop(message.header.properties.correlation_id or "", None)
        if future is not None:
            future.set_result(message)


@pytest.fixture(scope="module")
async def fuzz(broker: Settings) -> AsyncIterator[Fuzzer]:
    adapter = Adapter(ECHO, HANDLERS, broker, declare_topology=True)
    await adapter.start()
    connection = await aiormq.connect(broker.broker_url)
    fuzzer = Fuzzer(connection)
    await fuzzer.open()
    yield fuzzer
    await connection.close()
    await adapter.stop(grace=5)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=bodies,
    routing_key=routing_keys,
    headers=headers,
    message_id=texts,
    content_type=texts,
    message_type=texts,
    with_user_id=st.booleans(),
    with_reply_to=st.booleans(),
)
async def test_the_adapter_answers_anything_with_a_valid_reply(
    fuzz: Fuzzer,
    body: bytes,
    routing_key: str,
    headers: dict[str, Any],
    message_id: str | None,
    content_type: str | None,
    message_type: str | None,
    with_user_id: bool,
    with_reply_to: bool,
) -> None:
    correlation_id = uuid.uuid4().hex
    properties = spec.Basic.Properties(
        correlation_id=correlation_id,
        message_id=message_id,
        content_type=content_type,
        message_type=message_type,
        user_id="guest" if with_user_id else None,
        reply_to=DIRECT_REPLY_TO if with_reply_to else None,
        headers=headers,
    )
    future: asyncio.Future[aiormq.abc.DeliveredMessage] = asyncio.get_running_loop().create_future()
    fuzz.replies[correlation_id] = future
    await fuzz.channel.basic_publish(
        body, exchange="splp.theme.uji", routing_key=routing_key, properties=properties
    )
    deadline = headers.get(HEADER_DEADLINE)
    dropped = not with_reply_to or (
        isinstance(deadline, int)
        and not isinstance(deadline, bool)
        and deadline < time.time() * 1000
    )
    if dropped:
        fuzz.replies.pop(correlation_id, None)
        return
    reply = await asyncio.wait_for(future, 5)
    status = reply.header.properties.headers[HEADER_STATUS]
    payload = orjson.loads(reply.body)
    if status == 200:
        assert routing_key.endswith(".echo")
        assert payload["id"] == orjson.loads(body)["id"]
    else:
        assert status in STATUSES
        jsonschema.validate(payload, PROBLEM)
        assert payload["status"] == status


async def test_the_adapter_still_serves_after_the_fuzzing(fuzz: Fuzzer, broker: Settings) -> None:
    async with Client(broker) as client:
        assert (await client.call("uji", ECHO.ref, "echo", {"id": 1}, timeout=5))["id"] == 1
