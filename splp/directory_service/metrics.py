"""Prometheus ``/metrics`` of the directory: requests by route and status, and latency.

The route is the path template (``/parties/{name}``), never the path itself, so that
names in paths do not reach the metrics and the series stay few. The text format is
written by :mod:`splp.metrics`, as for the audit sink and the adapters.

``/metrics`` needs no token, like any Prometheus target: it holds counts per route
template and status only. It is left out of the OpenAPI document.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from splp.metrics import CONTENT_TYPE, Histogram, family, sample

UNMATCHED = "<unmatched>"


class DirectoryMetrics:
    """Counts and times the requests; :meth:`render` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.in_progress = 0
        self.latency = Histogram(
            "splp_directory_request_seconds", "Time to answer a directory API request."
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[method, route, str(status)] += 1
        self.latency.observe(seconds, method=method, route=route)

    def render(self) -> str:
        name = "splp_directory_requests_total"
        lines = family(
            name,
            "counter",
            "Directory API requests answered, by method, route template and status.",
            [
                sample(name, count, {"method": m, "route": r, "status": s})
                for (m, r, s), count in sorted(self.requests.items())
            ],
        )
        lines += family(
            "splp_directory_requests_in_progress",
            "gauge",
            "Directory API requests being answered.",
            [sample("splp_directory_requests_in_progress", self.in_progress)],
        )
        lines += self.latency.lines()
        return "\n".join(lines) + "\n"


def route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    """ASGI middleware that feeds :class:`DirectoryMetrics` and answers ``GET /metrics``."""

    def __init__(self, app: ASGIApp, metrics: DirectoryMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            await self._answer(send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_progress += 1
        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.in_progress -= 1
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_of(scope), status, elapsed)

    async def _answer(self, send: Send) -> None:
        body = self.metrics.render().encode()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
