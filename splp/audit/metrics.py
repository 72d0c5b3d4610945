"""Prometheus metrics in the text exposition format (0.0.4), written out by hand.

Counters, gauges and one histogram are all the sink and the directory need; a dependency
for them would be larger than this module.

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

import bisect
import contextlib
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

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
