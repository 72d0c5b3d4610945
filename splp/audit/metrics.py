"""What the audit sink counts, for Prometheus (``splp audit sink --metrics-port``)."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from splp.metrics import LATENCY_BUCKETS, Metrics


class SinkMetrics(Metrics):
    """Events received, stored, left out and flagged, store errors, backlog and lag."""

    def __init__(self) -> None:
        super().__init__()
        self.received = self._counter(
            "splp_audit_sink_received_events_total", "Events received from the queue."
        )
        self.stored = self._counter("splp_audit_sink_stored_events_total", "Events newly stored.")
        self.duplicates = self._counter(
            "splp_audit_sink_duplicate_events_total", "Events left out as already stored."
        )
        self.flagged = self._counter(
            "splp_audit_sink_flagged_events_total", "Events stored flagged (schema)."
        )
        self.rejected = self._counter(
            "splp_audit_sink_rejected_events_total",
            "Events the store refused, stored as rejected records.",
        )
        self.sender_mismatch = self._counter(
            "splp_audit_sink_sender_mismatch_events_total",
            "Events stored flagged because their sender may not speak for them "
            "(left out of reports).",
        )
        self.errors = self._counter(
            "splp_audit_sink_errors_total", "Failed writes to the store (retried)."
        )
        self.queue_depth = Gauge(
            "splp_audit_sink_queue_depth",
            "Ready messages in the sink's queue.",
            registry=self.registry,
        )
        self.lag_seconds = Gauge(
            "splp_audit_sink_lag_seconds",
            "Age of the newest event of the last batch when it was stored.",
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "splp_audit_sink_commit_seconds",
            "Time to write one batch to the audit store.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )

    def _counter(self, name: str, help_text: str) -> Counter:
        return Counter(name, help_text, registry=self.registry)

    def observe_commit(self, seconds: float, events: list[Any], stored: int) -> None:
        self.commit_seconds.observe(seconds)
        self.stored.inc(stored)
        self.duplicates.inc(len(events) - stored)
        self.flagged.inc(sum(1 for entry in events if entry[1] is not None))
        self.sender_mismatch.inc(
            sum(1 for entry in events if len(entry) == 3 and entry[2].provenance is not None)
        )
        if events:
            when = events[-1][0].get("time")
            if isinstance(when, str):
                with contextlib.suppress(ValueError):
                    lag = time.time() - datetime.fromisoformat(when).timestamp()
                    self.lag_seconds.set(round(max(lag, 0.0), 3))
