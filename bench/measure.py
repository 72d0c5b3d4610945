"""Timing N calls one after another, or N calls from W concurrent workers."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import payload

Call = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(slots=True)
class Run:
    """One timed batch: its wall time and the latency of every call (nanoseconds)."""

    calls: int
    seconds: float
    latencies_ns: list[int]
    cpu_us: dict[str, float | None] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds


async def _timed(call: Call, index: int, latencies: list[int]) -> None:
    body = payload(index)
    started = time.perf_counter_ns()
    reply = await call(body)
    latencies.append(time.perf_counter_ns() - started)
    if reply != body:
        raise RuntimeError(f"call {index}: the echo answered {reply!r}")


async def sequential(call: Call, calls: int) -> Run:
    latencies: list[int] = []
    started = time.perf_counter()
    for index in range(calls):
        await _timed(call, index, latencies)
    return Run(calls, time.perf_counter() - started, latencies)


async def concurrent(call: Call, calls: int, workers: int) -> Run:
    """``workers`` tasks share the ``calls``, so exactly ``workers`` calls are in flight."""
    latencies: list[int] = []
    indexes = iter(range(calls))

    async def worker() -> None:
        for index in indexes:
            await _timed(call, index, latencies)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    return Run(calls, time.perf_counter() - started, latencies)


def percentile_ms(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of sorted nanoseconds, in milliseconds."""
    rank = max(1, math.ceil(q / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1e6


@dataclass(slots=True)
class Result:
    """All rounds of one scenario in one mode."""

    scenario: str
    mode: str
    runs: list[Run] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Median over rounds: robust to one round disturbed by another process."""
        return statistics.median(run.throughput for run in self.runs)

    def _sorted(self) -> list[int]:
        return sorted(ns for run in self.runs for ns in run.latencies_ns)

    def _cpu_us(self) -> dict[str, float | None]:
        roles = {role for run in self.runs for role in run.cpu_us}
        medians: dict[str, float | None] = {}
        for role in sorted(roles):
            values = [v for run in self.runs if (v := run.cpu_us.get(role)) is not None]
            medians[role] = statistics.median(values) if values else None
        return medians

    def summary(self) -> dict[str, Any]:
        ordered = self._sorted()
        return {
            "scenario": self.scenario,
            "mode": self.mode,
            "calls": sum(run.calls for run in self.runs),
            "rounds": len(self.runs),
            "throughput": self.throughput,
            "throughput_rounds": [run.throughput for run in self.runs],
            "p50_ms_rounds": [percentile_ms(sorted(run.latencies_ns), 50) for run in self.runs],
            "p50_ms": percentile_ms(ordered, 50),
            "p99_ms": percentile_ms(ordered, 99),
            "mean_ms": sum(ordered) / len(ordered) / 1e6,
            "cpu_us_per_call": self._cpu_us(),
        }
