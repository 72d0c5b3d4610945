"""What the audit sink counts, in the Prometheus text format of :mod:`splp.metrics`."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

from splp.metrics import Histogram, family, sample


class SinkMetrics:
    """What the audit sink counts; :meth:`render` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.received = 0
        self.stored = 0
        self.duplicates = 0
        self.flagged = 0
        self.errors = 0
        self.queue_depth = 0
        self.lag_seconds = 0.0
        self.commit_seconds = Histogram(
            "splp_audit_sink_commit_seconds", "Time to write one batch to the audit store."
        )

    def observe_commit(self, seconds: float, events: list[Any], stored: int) -> None:
        self.commit_seconds.observe(seconds)
        self.stored += stored
        self.duplicates += len(events) - stored
        self.flagged += sum(1 for _event, flag in events if flag is not None)
        if events:
            when = events[-1][0].get("time")
            if isinstance(when, str):
                with contextlib.suppress(ValueError):
                    self.lag_seconds = time.time() - datetime.fromisoformat(when).timestamp()

    def render(self) -> str:
        counters = (
            (
                "splp_audit_sink_received_events_total",
                "Events received from the queue.",
                self.received,
            ),
            ("splp_audit_sink_stored_events_total", "Events newly stored.", self.stored),
            (
                "splp_audit_sink_duplicate_events_total",
                "Events left out as already stored.",
                self.duplicates,
            ),
            (
                "splp_audit_sink_flagged_events_total",
                "Events stored flagged (schema).",
                self.flagged,
            ),
            ("splp_audit_sink_errors_total", "Failed writes to the store (retried).", self.errors),
        )
        lines: list[str] = []
        for name, help_text, value in counters:
            lines += family(name, "counter", help_text, [sample(name, value)])
        lines += family(
            "splp_audit_sink_queue_depth",
            "gauge",
            "Ready messages in the sink's queue.",
            [sample("splp_audit_sink_queue_depth", self.queue_depth)],
        )
        lines += family(
            "splp_audit_sink_lag_seconds",
            "gauge",
            "Age of the newest event of the last batch when it was stored.",
            [sample("splp_audit_sink_lag_seconds", round(max(self.lag_seconds, 0.0), 3))],
        )
        lines += self.commit_seconds.lines()
        return "\n".join(lines) + "\n"
