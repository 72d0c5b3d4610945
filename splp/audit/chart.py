"""An SVG chart of calls and errors per day: bars for calls, red bars for errors inside.

Hand-written SVG (no plotting library): a title, a y axis with round ticks, one bar per
day with its count on top, the error part in red, and the error rate under each day.

>>> svg = usage_chart([{"day": "2025-05-01", "calls": 10, "errors": 2}], "dukcapil.penduduk.v1")
>>> svg.startswith("<svg") and "2025-05-01" in svg
True
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

WIDTH, HEIGHT = 760, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 56, 72


def nice_step(top: int) -> int:
    """A round tick step giving about five ticks up to ``top``."""
    step = 1
    while top / step > 5:
        for factor in (2, 5, 10):
            if top / (step * factor) <= 5:
                return step * factor
        step *= 10
    return step


def usage_chart(rows: list[dict[str, Any]], subject: str = "all services") -> str:
    """The SVG for ``rows`` (``day``, ``calls``, ``errors``), summed per day."""
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        days[row["day"]][0] += int(row["calls"])
        days[row["day"]][1] += int(row["errors"])
    ordered = sorted(days.items())
    peak = max((calls for _day, (calls, _e) in ordered), default=0) or 1
    step = nice_step(peak)
    top = -(-peak // step) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="24" font-size="16" font-weight="bold" fill="#222">'
        f"Calls and errors per day — {escape(subject)}</text>",
        f'<rect x="{WIDTH - 250}" y="34" width="12" height="12" fill="#4a7fb5"/>'
        f'<text x="{WIDTH - 233}" y="44" fill="#333">calls</text>'
        f'<rect x="{WIDTH - 180}" y="34" width="12" height="12" fill="#d9534f"/>'
        f'<text x="{WIDTH - 163}" y="44" fill="#333">errors (rate below)</text>',
    ]
    for tick in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * tick / top
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e3e3"/><text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#555">{tick:,}</text>'
        )
    if not ordered:
        out.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#777">'
            "no calls in this period</text>"
        )
    slot = plot_w / max(len(ordered), 1)
    bar = min(slot * 0.7, 60)
    for index, (day, (calls, errors)) in enumerate(ordered):
        x = LEFT + slot * index + (slot - bar) / 2
        h_calls, h_errors = plot_h * calls / top, plot_h * errors / top
        base = TOP + plot_h
        rate = f"{100 * errors / calls:.1f}%" if calls else "-"
        label = day[5:] if len(ordered) > 7 else day
        out.append(
            f'<rect x="{x:.1f}" y="{base - h_calls:.1f}" width="{bar:.1f}" '
            f'height="{h_calls:.1f}" fill="#4a7fb5"><title>{day}: {calls} calls, {errors} '
            f"errors</title></rect>"
            f'<rect x="{x:.1f}" y="{base - h_errors:.1f}" width="{bar:.1f}" '
            f'height="{h_errors:.1f}" fill="#d9534f"/>'
            f'<text x="{x + bar / 2:.1f}" y="{base - h_calls - 5:.1f}" text-anchor="middle" '
            f'fill="#222">{calls:,}</text>'
            f'<text x="{x + bar / 2:.1f}" y="{base + 16:.1f}" text-anchor="middle" '
            f'fill="#333">{escape(label)}</text>'
            f'<text x="{x + bar / 2:.1f}" y="{base + 32:.1f}" text-anchor="middle" '
            f'fill="#d9534f">{rate}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        'stroke="#333"/></svg>'
    )
    return "\n".join(out)
