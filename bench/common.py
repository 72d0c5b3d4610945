"""What the client and server halves of the benchmark share: names, the echo service, loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from splp.bus.descriptor import ServiceDescriptor, parse_descriptor

T = TypeVar("T")

SERVICE_COUNTS = (1, 100, 1000)
REPLICA_COUNTS = (1, 2, 4)
SCENARIOS = (
    "aio-pika",
    "splp",
    "splp-audit",
    "splp-cluster",
    "splp-http",
    "http",
    "faststream",
    "gateway",
    *(f"services-{n}" for n in SERVICE_COUNTS),
    *(f"replicas-{n}" for n in REPLICA_COUNTS),
)
# the default run leaves out what takes long to set up (1,000 adapters) and what needs the
# 3-node cluster of scripts/cluster.sh (splp-cluster); --only or --all
DEFAULT_SCENARIOS = tuple(s for s in SCENARIOS if s not in ("services-1000", "splp-cluster"))
CLUSTER_SCENARIOS = ("splp-cluster",)  # their servers and callers are on the cluster
BASELINE = "aio-pika"
PREFETCH = 64
# A replica's handler waits HANDLER_WAIT seconds, as an agency API does, with at most
# REPLICA_PREFETCH requests at once: then its capacity, not the machine's two cores,
# bounds one replica, and the replicas scenarios measure how the broker spreads the load.
HANDLER_WAIT = 0.005
REPLICA_PREFETCH = 2
SERVICES_PER_CONNECTION = 100  # services-N: adapters per shared AMQP connection (server.py)

RAW_QUEUE = "bench.raw.echo"
FASTSTREAM_QUEUE = "bench.faststream.echo"
THEME = "bench"
AUDIT_THEME = "bench-audit"  # the only theme whose events the bench's audit sink stores
PUBLISHER = "bench"
SERVICE_PYTHON = "echo"
SERVICE_HTTP = "echo-http"
SERVICE_AUDIT = "echo-audit"
SERVICE_GATEWAY = "echo-gw"
GATEWAY_PARTY = "benchreq"  # the requester party whose application calls through the gateway
OPERATION = "echo"
HTTP_PATH = "/echo"

_ECHO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "text"],
    "additionalProperties": False,
    "properties": {"id": {"type": "integer"}, "text": {"type": "string", "maxLength": 200}},
}


def scaled(scenario: str) -> int:
    """The number in ``services-N`` or ``replicas-N``."""
    return int(scenario.rsplit("-", 1)[1])


def scale_services(scenario: str) -> list[str]:
    """The services of ``services-N`` (``echo-n<N>-<i>``) or the one of ``replicas-N``."""
    if scenario.startswith("replicas-"):
        return [f"echo-wait-r{scaled(scenario)}"]
    count = scaled(scenario)
    return [f"echo-n{count}-{index}" for index in range(count)]


def echo_descriptor(service: str, theme: str = THEME) -> ServiceDescriptor:
    """The descriptor of a one-operation echo service (in the ``bench`` theme by default)."""
    return parse_descriptor(
        {
            "publisher": PUBLISHER,
            "service": service,
            "version": "1.0.0",
            "theme": theme,
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
