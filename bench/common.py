"""What the client and server halves of the benchmark share: names, the echo service, loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from splp.bus.descriptor import ServiceDescriptor, parse_descriptor

T = TypeVar("T")

SCENARIOS = ("aio-pika", "splp", "splp-http", "http", "faststream")
BASELINE = "aio-pika"
PREFETCH = 64

RAW_QUEUE = "bench.raw.echo"
FASTSTREAM_QUEUE = "bench.faststream.echo"
THEME = "bench"
PUBLISHER = "bench"
SERVICE_PYTHON = "echo"
SERVICE_HTTP = "echo-http"
OPERATION = "echo"
HTTP_PATH = "/echo"

_ECHO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "text"],
    "additionalProperties": False,
    "properties": {"id": {"type": "integer"}, "text": {"type": "string", "maxLength": 200}},
}


def echo_descriptor(service: str) -> ServiceDescriptor:
    """The descriptor of a one-operation echo service in the ``bench`` theme."""
    return parse_descriptor(
        {
            "publisher": PUBLISHER,
            "service": service,
            "version": "1.0.0",
            "theme": THEME,
            "title": "Benchmark echo",
            "classification": "public",
            "operations": {OPERATION: {"request": _ECHO_SCHEMA, "response": _ECHO_SCHEMA}},
        },
        where=f"bench descriptor {service}",
    )


def payload(index: int) -> dict[str, Any]:
    """The request body of call number ``index``; the echo must give it back unchanged."""
    return {"id": index, "text": "Sistem Penghubung Layanan Pemerintah"}


def loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop]:
    if use_uvloop:
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], use_uvloop: bool) -> T:
    """Run ``main`` on the chosen loop (the same choice in the client and the server)."""
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop)) as runner:
        return runner.run(main)
