"""Ratios against raw aio-pika, the issue's targets, and the table printed on stdout.

A ratio pairs the rounds: round r of a scenario is compared with round r of the other,
measured seconds apart, and the median over rounds is reported. On a shared machine this
is steadier than comparing medians measured a minute apart.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.common import BASELINE

MODES = ("sequential", "concurrent")
Row = dict[str, Any]


def throughput_ratio(row: Row, ref: Row) -> float:
    pairs = zip(row["throughput_rounds"], ref["throughput_rounds"], strict=True)
    return float(statistics.median(a / b for a, b in pairs))


def p50_delta_ms(row: Row, ref: Row) -> float:
    pairs = zip(row["p50_ms_rounds"], ref["p50_ms_rounds"], strict=True)
    return float(statistics.median(a - b for a, b in pairs))


def add_ratios(rows: list[Row]) -> None:
    """Give each row its throughput ratio and p50 difference against raw aio-pika (same mode)."""
    base = {row["mode"]: row for row in rows if row["scenario"] == BASELINE}
    for row in rows:
        ref = base.get(row["mode"])
        row["throughput_vs_raw"] = throughput_ratio(row, ref) if ref else None
        row["p50_delta_ms_vs_raw"] = p50_delta_ms(row, ref) if ref else None


def _row(rows: list[Row], scenario: str, mode: str) -> Row | None:
    return next((r for r in rows if r["scenario"] == scenario and r["mode"] == mode), None)


# (scenario, reference, at least this ratio of concurrent throughput), from issue 14
THROUGHPUT_TARGETS = (
    ("splp", BASELINE, 1.0),
    ("splp", "faststream", 4.0),
    ("splp-audit", BASELINE, 0.7),
    ("splp-http", BASELINE, 0.6),
    ("services-100", "services-1", 0.9),
    ("services-1000", "services-1", 0.9),
    ("replicas-4", "replicas-1", 3.0),
    ("gateway", "splp", 0.5),  # issue 13
)
# (scenario, reference, at most this many ms above the reference's sequential p50)
P50_TARGETS = (
    ("splp", BASELINE, 0.2),  # issue 14
    ("gateway", "splp", 1.0),  # issue 13
)


def cluster_ratios(rows: list[Row]) -> dict[str, float]:
    """Throughput of ``splp-cluster`` (3 nodes, quorum queues) over ``splp`` (one node), per
    mode, paired by round as the other ratios; empty unless both ran."""
    ratios = {}
    for mode in MODES:
        row, ref = _row(rows, "splp-cluster", mode), _row(rows, "splp", mode)
        if row and ref:
            ratios[mode] = round(throughput_ratio(row, ref), 3)
    return ratios


def targets(rows: list[Row]) -> list[dict[str, Any]]:
    """The issue's targets that this run can check (each needs its scenarios to have run)."""
    checks: list[dict[str, Any]] = []
    for scenario, reference, least in THROUGHPUT_TARGETS:
        row, ref = _row(rows, scenario, "concurrent"), _row(rows, reference, "concurrent")
        if row and ref:
            value = throughput_ratio(row, ref)
            checks.append({"target": f"{scenario} concurrent >= {least:g}x {reference}",
                           "value": round(value, 3), "met": value >= least})
    for scenario, reference, most in P50_TARGETS:
        row, ref = _row(rows, scenario, "sequential"), _row(rows, reference, "sequential")
        if row and ref:
            value = p50_delta_ms(row, ref)
            checks.append({"target": f"{scenario} sequential p50 <= {reference} p50 + {most:g} ms",
                           "value": round(value, 3), "met": value <= most})
    return checks


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _cpu(row: Row) -> str:
    cpu = row.get("cpu_us_per_call") or {}
    return " / ".join(_fmt(cpu.get(role), ".0f") for role in ("client", "server", "broker"))


def table(rows: list[Row], checks: list[dict[str, Any]], concurrency: int) -> str:
    header = (f"{'scenario':<14} {'mode':<14} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'x raw':>7} {'p50 - raw':>10}  {'cpu us/call client/server/broker':>32}")
    lines = [header, "-" * len(header)]
    for mode in MODES:
        for row in (r for r in rows if r["mode"] == mode):
            label = mode if mode == "sequential" else f"concurrent {concurrency}"
            lines.append(
                f"{row['scenario']:<14} {label:<14} {row['throughput']:>9.0f} "
                f"{row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} "
                f"{_fmt(row['throughput_vs_raw'], '.2f', 'x'):>7} "
                f"{_fmt(row['p50_delta_ms_vs_raw'], '+.3f'):>10}  {_cpu(row):>32}"
            )
    if checks:
        lines += ["", "targets:"]
        lines += [f"  [{'met' if c['met'] else 'MISSED'}] {c['target']}: {c['value']}"
                  for c in checks]
    return "\n".join(lines)
