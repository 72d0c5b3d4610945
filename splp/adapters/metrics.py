"""What an adapter counts, for Prometheus (``GET /metrics`` on ``metrics_port``).

Labels are the operation and the status only: never a requester, an id or a payload.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from splp.metrics import Histogram, family, sample


class AdapterMetrics:
    """Requests by outcome, their handling time, and the adapter's backlogs."""

    def __init__(self, service: str) -> None:
        self.labels = {"service": service}
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (operation, status, kind)
        self.dropped: Counter[str] = Counter()  # reason
        self.seconds = Histogram(
            "splp_adapter_request_seconds", "Time from delivery to reply, by operation."
        )
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def answered(self, operation: str | None, status: int, kind: str, seconds: float) -> None:
        self.requests[(operation or "-", str(status), kind)] += 1
        self.seconds.observe(seconds, operation=operation or "-", **self.labels)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        lines = family(
            "splp_adapter_requests_total",
            "counter",
            "Requests answered, by operation, splp-status and audit kind.",
            [
                sample(
                    "splp_adapter_requests_total",
                    count,
                    {**self.labels, "operation": op, "status": status, "kind": kind},
                )
                for (op, status, kind), count in sorted(self.requests.items())
            ],
        )
        lines += family(
            "splp_adapter_dropped_total",
            "counter",
            "Requests dropped to the dead-letter exchange, by reason.",
            [
                sample("splp_adapter_dropped_total", count, {**self.labels, "reason": reason})
                for reason, count in sorted(self.dropped.items())
            ],
        )
        lines += self.seconds.lines()
        for name, (help_text, read) in sorted(self.gauges.items()):
            lines += family(name, "gauge", help_text, [sample(name, read(), self.labels)])
        return "\n".join(lines) + "\n"
