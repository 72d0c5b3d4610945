"""The usage chart as a person sees it: every day of the period has its slot, day labels
and numbers never overlap, the title fits, and the period and totals are written out."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from splp.audit.chart import WIDTH, usage_chart

SVG = "{http://www.w3.org/2000/svg}"


def period(n: int) -> list[str]:
    return [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(n)]


def texts(svg: str) -> list[tuple[float, float, str]]:
    root = ET.fromstring(svg)
    return [
        (float(t.get("x", 0)), float(t.get("y", 0)), t.text or "") for t in root.iter(f"{SVG}text")
    ]


def extents(svg: str) -> dict[float, list[tuple[float, float, str]]]:
    """Per baseline, each text's horizontal extent, at a generous 0.6 em a character."""
    rows: dict[float, list[tuple[float, float, str]]] = {}
    for t in ET.fromstring(svg).iter(f"{SVG}text"):
        if t.get("transform"):  # the rotated axis title stands alone
            continue
        body, x = t.text or "", float(t.get("x", 0))
        width = 0.6 * float(t.get("font-size", 12)) * len(body)
        start = {"middle": x - width / 2, "end": x - width}.get(t.get("text-anchor", ""), x)
        rows.setdefault(float(t.get("y", 0)), []).append((start, start + width, body))
    return rows


@pytest.mark.parametrize("days", [1, 7, 14, 31, 92])
def test_labels_never_overlap(days: int) -> None:
    every_day = period(days)
    rows = [{"day": d, "calls": 1000 + 37 * i, "errors": i} for i, d in enumerate(every_day[::2])]
    svg = usage_chart(rows, "dukcapil.penduduk.v1", every_day)
    root = ET.fromstring(svg)
    assert len([r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]) == days
    for y, row in extents(svg).items():
        row.sort()
        for (_s1, end, a), (start, _e2, b) in itertools.pairwise(row):
            assert end <= start, (y, a, b)
        assert all(s >= 0 and e <= WIDTH for s, e, _b in row), row
    labels = [body for _x, _y, body in texts(svg) if body[-5:-3].isdigit() and "-" in body]
    assert every_day[-1][5:] in labels or every_day[-1] in labels  # the last day is named


def test_the_title_fits_and_says_period_and_totals() -> None:
    rows = [{"day": "2026-01-02", "calls": 1200, "errors": 30}]
    svg = usage_chart(rows, "kependudukan." + "very-long-name-" * 8, period(7))
    title, subtitle = (body for _x, _y, body in texts(svg)[:2])
    assert all(e <= WIDTH for row in extents(svg).values() for _s, e, _b in row), title
    assert subtitle == "2026-01-01 to 2026-01-07 (UTC) · 1,200 calls, 30 errors (2.5%)"
    assert "no calls" in usage_chart([], "all services", period(7))


@pytest.mark.parametrize("days", [1, 7, 31])
def test_in_bahasa_indonesia_the_words_and_numbers_are_indonesian(days: int) -> None:
    rows = [{"day": "2026-01-01", "calls": 1200, "errors": 30}]
    svg = usage_chart(rows, "semua layanan", period(days), lang="id")
    words = [body for _x, _y, body in texts(svg)]
    assert words[0] == "Panggilan dan galat per hari — semua layanan"
    assert words[1].endswith("1.200 panggilan, 30 galat (2,5%)")
    assert "panggilan per hari" in words and "hari (UTC)" in words
    assert not {"calls", "errors", "calls per day", "day (UTC)"} & set(words)
    for y, row in extents(svg).items():  # the longer words still do not overlap
        row.sort()
        for (_s1, end, a), (start, _e2, b) in itertools.pairwise(row):
            assert end <= start, (y, a, b)
        assert all(s >= 0 and e <= WIDTH for s, e, _b in row), row
    assert "tidak ada panggilan" in usage_chart([], "semua layanan", period(7), lang="id")
