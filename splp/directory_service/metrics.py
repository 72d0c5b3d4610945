"""Prometheus ``/metrics`` of the directory: requests by route and status, and latency.

The route is the path template (``/parties/{name}``), never the path itself, so that
names in paths do not reach the metrics and the series stay few. The collectors and the
``/metrics`` answer are ``prometheus_client``'s, as for the audit sink and the adapters.

``/metrics`` needs no token, like any Prometheus target: it holds counts per route
template and status only. It is left out of the OpenAPI document.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, make_asgi_app
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from splp.metrics import LATENCY_BUCKETS, Metrics

UNMATCHED = "<unmatched>"


class DirectoryMetrics(Metrics):
    """Counts and times the directory API's requests."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = Counter(
            "splp_directory_requests_total",
            "Directory API requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "splp_directory_requests_in_progress",
            "Directory API requests being answered.",
            registry=self.registry,
        )
        self.latency = Histogram(
            "splp_directory_request_seconds",
            "Time to answer a directory API request.",
            ("method", "route"),
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


def route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    """ASGI middleware that feeds :class:`DirectoryMetrics` and answers ``GET /metrics``."""

    def __init__(self, app: ASGIApp, metrics: DirectoryMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.exposition = make_asgi_app(metrics.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            await self.exposition(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            with self.metrics.in_progress.track_inprogress():
                await self.app(scope, receive, recording_send)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_of(scope), status, elapsed)
