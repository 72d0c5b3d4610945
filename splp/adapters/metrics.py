"""What an adapter counts, for Prometheus (``GET /metrics`` on ``metrics_port``).

Labels are the service, the operation and the status only: never a requester, an id or
a payload.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from splp.metrics import LATENCY_BUCKETS, Metrics


class AdapterMetrics(Metrics):
    """Requests by outcome, their handling time, and the adapter's backlogs."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.requests = Counter(
            "splp_adapter_requests_total",
            "Requests answered, by operation, splp-status and audit kind.",
            ("kind", "operation", "service", "status"),
            registry=self.registry,
        )
        self.dropped_requests = Counter(
            "splp_adapter_dropped_total",
            "Requests dropped to the dead-letter exchange, by reason.",
            ("reason", "service"),
            registry=self.registry,
        )
        self.seconds = Histogram(
            "splp_adapter_request_seconds",
            "Time from delivery to reply, by operation.",
            ("operation", "service"),
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        # The children of each label set, kept: labels() costs more than inc() and observe()
        # together, and this runs once per request.
        self._answered: dict[tuple[str | None, int, str], tuple[Counter, Histogram]] = {}

    def answered(self, operation: str | None, status: int, kind: str, seconds: float) -> None:
        children = self._answered.get((operation, status, kind))
        if children is None:
            op = operation or "-"
            children = self._answered[operation, status, kind] = (
                self.requests.labels(kind, op, self.service, str(status)),
                self.seconds.labels(op, self.service),
            )
        count, time_taken = children
        count.inc()
        time_taken.observe(seconds)

    def dropped(self, reason: str) -> None:
        self.dropped_requests.labels(reason, self.service).inc()

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge read by ``read()`` at every scrape (from the metrics server's thread)."""
        gauge = Gauge(name, help_text, ("service",), registry=self.registry)
        gauge.labels(self.service).set_function(read)
