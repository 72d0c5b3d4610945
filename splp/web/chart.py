"""An SVG chart of calls and errors per day: bars for calls, red bars for errors inside.

Hand-written SVG (no plotting library): a title with the period, a y axis with round
ticks and its title, one bar per day of the period (a day without calls is an empty
slot, so the time axis is even), the count on top and the error rate under each day
while there is room for them, and fewer day labels when the days are many.

>>> svg = usage_chart([{"day": "2025-05-01", "calls": 10, "errors": 2}], "dukcapil.penduduk.v1")
>>> svg.startswith("<svg") and "2025-05-01" in svg
True
>>> "Panggilan dan galat per hari" in usage_chart([], "semua layanan", lang="id")
True

Its words are English by default, Bahasa Indonesia with ``lang="id"`` (numbers then
written ``1.234`` and ``2,5%``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from html import escape
from typing import Any

WIDTH, HEIGHT = 760, 364
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 64, 68
CALLS, ERRORS, INK, MUTED = "#4a7fb5", "#d9534f", "#222", "#555"
LABEL_PX = {"full": 76, "short": 44}  # room a day label needs at 12px
NUMBER_PX = 40  # room for a count or a rate under/over a bar
MAX_SUBJECT = 38  # what fits beside the title at 16px bold
WORDS = {
    "en": {
        "title": "Calls and errors per day",
        "to": "to",
        "calls": "calls",
        "errors": "errors",
        "rate below": " (rate below)",
        "per day": "calls per day",
        "none": "no calls in this period",
        "day": "day",
    },
    "id": {
        "title": "Panggilan dan galat per hari",
        "to": "s.d.",
        "calls": "panggilan",
        "errors": "galat",
        "rate below": " (rasio di bawah)",
        "per day": "panggilan per hari",
        "none": "tidak ada panggilan dalam periode ini",
        "day": "hari",
    },
}
LEGEND_CHAR_PX = 6.6  # a character of the legend at 12px, generously
SUBTITLE_CHAR_PX = 7.2  # a character of the subtitle at 12px, more generously
LEGEND_ROW = 20  # the legend's own row under the subtitle, when it does not fit beside it


def _count(value: int, lang: str) -> str:
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "id" else text


def _percent(value: float, lang: str) -> str:
    text = f"{value:.1f}%"
    return text.replace(".", ",") if lang == "id" else text


def nice_step(top: int) -> int:
    """A round tick step giving about five ticks up to ``top``."""
    step = 1
    while top / step > 5:
        for factor in (2, 5, 10):
            if top / (step * factor) <= 5:
                return step * factor
        step *= 10
    return step


def _text(x: float, y: float, body: str, fill: str = INK, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" fill="{fill}"{extra}>{escape(body)}</text>'


def _header(
    subject: str, ordered: list[tuple[str, list[int]]], with_rates: bool, lang: str, zone: str
) -> tuple[list[str], int]:
    """The title, the subtitle and the legend; and how much lower the plot starts (the
    legend takes a row of its own when it does not fit beside the subtitle)."""
    words = WORDS[lang]
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1] + "…"
    period = (
        f"{ordered[0][0]} {words['to']} {ordered[-1][0]} ({zone})"
        if len(ordered) > 1
        else f"{ordered[0][0]} ({zone})"
        if ordered
        else ""
    )
    total = sum(c for _d, (c, _e) in ordered)
    errors = sum(e for _d, (_c, e) in ordered)
    summary = f"{_count(total, lang)} {words['calls']}, {_count(errors, lang)} {words['errors']}"
    if total:
        summary += f" ({_percent(100 * errors / total, lang)})"
    calls_label = words["calls"]
    errors_label = words["errors"] + (words["rate below"] if with_rates else "")
    calls_w = 17 + LEGEND_CHAR_PX * len(calls_label) + 12
    legend_w = calls_w + 17 + LEGEND_CHAR_PX * len(errors_label)
    subtitle = f"{period} · {summary}" if period else summary
    legend_x, legend_y, lower = WIDTH - RIGHT - legend_w, 36, 0
    if LEFT + SUBTITLE_CHAR_PX * len(subtitle) + 12 > legend_x:
        legend_y, lower = 36 + LEGEND_ROW, LEGEND_ROW
    return [
        _text(LEFT, 26, f"{words['title']} — {subject}", font_size="16", font_weight="bold"),
        _text(LEFT, 46, subtitle, MUTED),
        f'<rect x="{legend_x:.1f}" y="{legend_y}" width="12" height="12" fill="{CALLS}"/>',
        _text(legend_x + 17, legend_y + 10, calls_label, MUTED),
        f'<rect x="{legend_x + calls_w:.1f}" y="{legend_y}" width="12" height="12" '
        f'fill="{ERRORS}"/>',
        _text(legend_x + calls_w + 17, legend_y + 10, errors_label, MUTED),
    ], lower


def usage_chart(
    rows: list[dict[str, Any]],
    subject: str = "all services",
    days: list[str] | None = None,
    lang: str = "en",
    zone: str = "UTC",
) -> str:
    """The SVG for ``rows`` (``day``, ``calls``, ``errors``), summed per day; ``days`` are
    every day of the period (ISO dates), so that days without calls show as such; its
    words in ``lang`` (``en`` or ``id``); ``zone`` names the clock the days are cut by."""
    lang = lang if lang in WORDS else "en"
    words = WORDS[lang]
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for day in days or ():
        per_day[day] = [0, 0]
    for row in rows:
        per_day[row["day"]][0] += int(row["calls"])
        per_day[row["day"]][1] += int(row["errors"])
    ordered = sorted(per_day.items())
    peak = max((calls for _day, (calls, _e) in ordered), default=0) or 1
    step = nice_step(peak)
    top = -(-peak // step) * step
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(len(ordered), 1)
    with_numbers = slot >= NUMBER_PX
    header, lower = _header(subject, ordered, with_numbers, lang, zone)
    top_y = TOP + lower
    plot_h = HEIGHT - top_y - BOTTOM
    base = top_y + plot_h
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        *header,
    ]
    for tick in range(0, top + 1, step):
        y = base - plot_h * tick / top
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
            + _text(LEFT - 8, y + 4, _count(tick, lang), MUTED, text_anchor="end")
        )
    mid_y = top_y + plot_h / 2
    out.append(
        _text(
            16,
            mid_y,
            words["per day"],
            MUTED,
            text_anchor="middle",
            transform=f"rotate(-90 16 {mid_y:.1f})",
        )
    )
    if not any(calls for _day, (calls, _e) in ordered):
        out.append(_text(LEFT + plot_w / 2, mid_y, words["none"], "#777", text_anchor="middle"))
    short = len(ordered) > 7 or slot < LABEL_PX["full"]
    every = max(1, math.ceil(LABEL_PX["short" if short else "full"] / slot))
    bar = min(slot * 0.7, 60)
    for index, (day, (calls, errors)) in enumerate(ordered):
        x = LEFT + slot * index + (slot - bar) / 2
        middle = x + bar / 2
        h_calls, h_errors = plot_h * calls / top, plot_h * errors / top
        out.append(
            f'<rect x="{x:.1f}" y="{base - h_calls:.1f}" width="{bar:.1f}" '
            f'height="{h_calls:.1f}" fill="{CALLS}"><title>{day}: {_count(calls, lang)} '
            f"{words['calls']}, {_count(errors, lang)} {words['errors']}</title></rect>"
            f'<rect x="{x:.1f}" y="{base - h_errors:.1f}" '
            f'width="{bar:.1f}" height="{h_errors:.1f}" fill="{ERRORS}"/>'
        )
        if with_numbers and calls:
            out.append(_text(middle, base - h_calls - 5, _count(calls, lang), text_anchor="middle"))
            out.append(
                _text(
                    middle,
                    base + 32,
                    _percent(100 * errors / calls, lang),
                    ERRORS,
                    text_anchor="middle",
                )
            )
        if (len(ordered) - 1 - index) % every == 0:  # the last day always has its label
            label = day[5:] if short else day
            out.append(_text(middle, base + 16, label, "#333", text_anchor="middle"))
    axis_y = base + (54 if with_numbers else 38)
    out.append(
        _text(LEFT + plot_w / 2, axis_y, f"{words['day']} ({zone})", MUTED, text_anchor="middle")
    )
    out.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#333"/></svg>'
    )
    return "\n".join(out)
