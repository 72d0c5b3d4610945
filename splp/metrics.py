"""Prometheus metrics in the text exposition format (0.0.4), written out by hand.

Counters, gauges and one histogram are all the adapters, the audit sink and the directory
need; a dependency for them would be larger than this module. :func:`serve_metrics`
answers ``GET /metrics`` on a port of its own for the processes without an HTTP app.

>>> h = Histogram("splp_x_seconds", "x", (0.1, 1.0))
>>> h.observe(0.5)
>>> print("\\n".join(h.lines()))
# HELP splp_x_seconds x
# TYPE splp_x_seconds histogram
splp_x_seconds_bucket{le="0.1"} 0
splp_x_seconds_bucket{le="1.0"} 1
splp_x_seconds_bucket{le="+Inf"} 1
splp_x_seconds_sum 0.5
splp_x_seconds_count 1
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable, Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + inner + "}"


def sample(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    return (
        f"{name}{_labels(labels or {})} {value:g}"
        if isinstance(value, float)
        else (f"{name}{_labels(labels or {})} {value}")
    )


def family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


class Histogram:
    """A histogram with fixed buckets, optionally one series per label set."""

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.name, self.help, self.buckets = name, help_text, buckets
        self._series: dict[tuple[tuple[str, str], ...], list[float]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
        series[bisect.bisect_left(self.buckets, value)] += 1
        series[-1] += value

    def lines(self) -> list[str]:
        samples = []
        for key, series in sorted(self._series.items()):
            labels = dict(key)
            running = 0.0
            for bound, count in zip((*self.buckets, float("inf")), series[:-1], strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                samples.append(sample(f"{self.name}_bucket", int(running), {**labels, "le": le}))
            samples.append(sample(f"{self.name}_sum", series[-1], labels))
            samples.append(sample(f"{self.name}_count", int(running), labels))
        return family(self.name, "histogram", self.help, samples)


async def serve_metrics(render: Callable[[], str], host: str, port: int) -> asyncio.Server:
    """Serve ``render()`` on ``GET /metrics`` at ``host:port`` (HTTP/1.0, 404 otherwise)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            if request.startswith(b"GET /metrics "):
                body, status = render().encode(), "200 OK"
            else:
                body, status = b"not found\n", "404 Not Found"
            writer.write(
                f"HTTP/1.0 {status}\r\nContent-Type: {CONTENT_TYPE}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, host, port)
