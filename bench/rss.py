"""Resident memory of processes, sampled from ``/proc/<pid>/status``, and its growth.

Growth is measured from the end of the warm-up to the end of the run, each end the median
of a few samples, so one garbage-collection spike does not decide the verdict.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

SAMPLES_PER_END = 5


def rss_kib(pid: int) -> int | None:
    """``VmRSS`` of ``pid`` in KiB, or ``None`` once the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class RssSeries:
    """The samples ``(seconds since the start, KiB)`` of one component."""

    component: str
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)

    def sample(self, at: float) -> None:
        kib = rss_kib(self.pid)
        if kib is not None:
            self.samples.append((at, kib))

    def baseline(self, warmup: float) -> float:
        """Median RSS of the samples nearest the end of the warm-up."""
        after = [kib for at, kib in self.samples if at >= warmup]
        if not after:
            raise ValueError(f"{self.component}: no RSS sample after the warm-up")
        return statistics.median(after[:SAMPLES_PER_END])

    def end(self) -> float:
        """Median RSS of the last samples."""
        if not self.samples:
            raise ValueError(f"{self.component}: no RSS sample")
        return statistics.median(kib for _, kib in self.samples[-SAMPLES_PER_END:])

    def growth(self, warmup: float) -> float:
        """Growth from the end of the warm-up to the end, in percent."""
        base = self.baseline(warmup)
        return (self.end() - base) / base * 100.0


class RssSampler:
    """Samples every component once per ``interval`` seconds, on demand."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.series = {name: RssSeries(name, pid) for name, pid in pids.items()}
        self.started = time.monotonic()

    def sample(self) -> None:
        at = time.monotonic() - self.started
        for series in self.series.values():
            series.sample(at)
