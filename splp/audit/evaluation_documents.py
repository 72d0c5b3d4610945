"""The evaluation report as documents a regent's office files: PDF, XLSX and HTML, in
Bahasa Indonesia, with charts (calls per service, calls and failures over the period).

The PDF is drawn with ReportLab (its own chart library), the workbook with openpyxl (the
spreadsheet's native charts); both come with the ``server`` extra and are imported only
when a document is asked for.
"""

from __future__ import annotations

import html
import io
from collections import defaultdict
from typing import Any

from splp.audit.evaluation import MONTHS_ID, WIB, duration_id, percent_id
from splp.audit.service_levels import NOT_MEASURED

TITLE = "Laporan Evaluasi Penggunaan Layanan SPLP"
SUBTITLE = "Pemantauan dan evaluasi (Pasal 9)"
SERVICE_COLUMNS = (
    ("service", "Layanan"),
    ("calls", "Panggilan"),
    ("ok", "Berhasil"),
    ("caller_errors", "Salah peminta (4xx)"),
    ("publisher_failures", "Gagal penerbit (5xx)"),
    ("denied", "Ditolak (403)"),
    ("throttled", "Dibatasi (429)"),
    ("p50_ms", "p50 (ms)"),
    ("p95_ms", "p95 (ms)"),
)
REQUESTER_COLUMNS = (("requester", "Perangkat daerah peminta"), *SERVICE_COLUMNS[1:])
OPERATION_COLUMNS = (
    ("service", "Layanan"),
    ("operation", "Operasi"),
    *SERVICE_COLUMNS[1:7],
)
CROSS_COLUMNS = 8
TOP_SERVICES = 15
PROCEDURE_ROWS = (
    ("received", "Permohonan diterima"),
    ("approved", "Disetujui administrator"),
    ("rejected", "Ditolak administrator"),
    ("granted", "Izin diberikan penerbit"),
    ("declined", "Ditolak penerbit"),
)


MEASURES = {"availability": "Ketersediaan", "p95_ms": "Latensi p95"}


def availability_rows(report: dict[str, Any], raw: bool = False) -> list[list[Any]]:
    """The availability table (header first); ``raw`` keeps numbers (the workbook's)."""
    rows: list[list[Any]] = [
        [
            "Layanan",
            "Ketersediaan (%)" if raw else "Ketersediaan",
            "Target (%)" if raw else "Target",
            "Gangguan",
            "Tidak tersedia (detik)" if raw else "Tidak tersedia",
            "Waktu teramati (detik)" if raw else "Waktu teramati",
        ]
    ]
    for r in report["availability"]["services"]:
        percent, target = r["availability_percent"], r["availability_target"]
        if raw:
            shown = [percent if r["measured"] else NOT_MEASURED, target]
            times = [r["down_seconds"], r["observed_seconds"]]
        else:
            shown = [
                percent_id(percent) if r["measured"] else NOT_MEASURED,
                "-" if target is None else percent_id(target),
            ]
            times = (
                [duration_id(r["down_seconds"]), duration_id(r["observed_seconds"])]
                if r["measured"]
                else ["-", "-"]
            )
        rows.append([r["service"], *shown, r["outages"] if r["measured"] else "-", *times])
    return rows


def breach_rows(report: dict[str, Any], raw: bool = False) -> list[list[Any]]:
    rows: list[list[Any]] = [["Layanan", "Ukuran", "Target", "Capaian"]]
    for b in report.get("service_level_breaches", []):
        if raw:
            values = [b["target"], b["actual"]]
        elif b["measure"] == "availability":
            values = [percent_id(b["target"]), percent_id(b["actual"])]
        else:
            values = [f"{_cell(float(b['target']))} ms", f"{_cell(float(b['actual']))} ms"]
        rows.append([b["service"], MEASURES.get(b["measure"], b["measure"]), *values])
    return rows


def wib(moment: str | None) -> str:
    """An ISO 8601 moment as ``YYYY-MM-DD HH:MM WIB``."""
    from datetime import datetime

    if not moment:
        return "-"
    return datetime.fromisoformat(moment).astimezone(WIB).strftime("%Y-%m-%d %H:%M WIB")


def _figure(value: Any) -> str:
    """A rule's figure: a ratio keeps its four decimals (``0,2857``)."""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".").replace(".", ",")
    return _cell(value)


def finding_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The supervision findings (header first): one row per misuse hit."""
    rows: list[list[Any]] = [
        ["No.", "Aturan", "Peminta", "Layanan / operasi", "Rentang", "Angka", "Tindak lanjut"]
    ]
    supervision = report.get("supervision") or {}
    for f in supervision.get("findings", []):
        figures = ", ".join(f"{k} = {_figure(v)}" for k, v in sorted(f["figures"].items()))
        if f.get("suspended"):
            figures += f"; izin ditangguhkan: {', '.join(f'#{n}' for n in f['suspended'])}"
        notes = "; ".join(
            f"{n['text']} ({n['author']}, {wib(n['at'])})" for n in f.get("follow_ups", [])
        )
        rows.append(
            [
                f"#{f['id']}",
                f"{f['rule']}: {f['title']}",
                f["requester"],
                " ".join(x for x in (f.get("service"), f.get("operation")) if x) or "-",
                f"{wib(f['since'])} s.d. {wib(f['until'])}",
                figures or "-",
                notes or "belum ada",
            ]
        )
    return rows


def timeline(report: dict[str, Any]) -> tuple[str, list[tuple[str, int, int, int]]]:
    """``(unit, [(label, calls, caller_errors, publisher_failures)])``: per day for a month,
    per month otherwise, every day or month of the period included."""
    from datetime import date, timedelta

    first, last = date.fromisoformat(report["from"]), date.fromisoformat(report["to"])
    daily = {row["day"]: row for row in report["daily"]}
    buckets: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    monthly = (last - first).days > 31
    day = first
    while day <= last:
        key = f"{MONTHS_ID[day.month - 1][:3]} {day.year}" if monthly else day.strftime("%d")
        row = daily.get(day.isoformat())
        bucket = buckets[key]
        if row:
            bucket[0] += row["calls"]
            bucket[1] += row["caller_errors"]
            bucket[2] += row["publisher_failures"]
        day += timedelta(days=1)
    return ("bulan" if monthly else "hari"), [(k, *v) for k, v in buckets.items()]  # type: ignore[misc]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}".replace(",", "#").replace(".", ",").replace("#", ".")
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return str(value)


def _cross_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    cross = report["cross_tab"]
    calls = {(c["service"], c["requester"]): c["calls"] for c in cross["calls"]}
    header = ["Layanan \\ Peminta", *cross["requesters"]]
    rows = [[s, *(calls.get((s, r), 0) for r in cross["requesters"])] for s in cross["services"]]
    return header, rows


# --- HTML ---------------------------------------------------------------------------------


def to_html(report: dict[str, Any]) -> bytes:
    """A self-contained HTML page (no script, no outside resource)."""

    def table(columns: tuple[tuple[str, str], ...], rows: list[dict[str, Any]]) -> str:
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(_cell(r.get(k)))}</td>" for k, _ in columns)
            + "</tr>"
            for r in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def grid(rows: list[list[Any]]) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in rows[0])
        body = (
            "".join(
                "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                for row in rows[1:]
            )
            or f"<tr><td colspan='{len(rows[0])}'>(tidak ada)</td></tr>"
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    header, cross = _cross_rows(report)
    cross_html = (
        "<table><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        + "</tr></thead><tbody>"
        + "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in cross
        )
        + "</tbody></table>"
    )
    parts = [
        "<!doctype html><html lang='id'><head><meta charset='utf-8'>",
        f"<title>{TITLE} - {html.escape(report['label'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #999;padding:.2em .5em}td{text-align:right}"
        "td:first-child{text-align:left}</style></head><body>",
        f"<h1>{TITLE}</h1><p>{SUBTITLE} &middot; {html.escape(report['label'])} "
        f"({report['from']} s.d. {report['to']}, WIB)</p>",
        "<h2>Ringkasan</h2>",
        *(f"<p>{html.escape(p)}</p>" for p in report["narrative"]),
        "<h2>Per layanan</h2>",
        table(SERVICE_COLUMNS, report["by_service"]),
        "<h2>Per perangkat daerah peminta</h2>",
        table(REQUESTER_COLUMNS, report["by_requester"]),
        "<h2>Per operasi</h2>",
        table(OPERATION_COLUMNS, report["by_operation"]),
        "<h2>Layanan &times; perangkat daerah</h2>",
        cross_html,
        "<h2>Layanan dan izin yang tidak digunakan</h2>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in report["unused_services"]) + "</ul>",
        table((("service", "Layanan"), ("requester", "Peminta")), report["unused_grants"]),
        "<h2>Ketersediaan</h2>",
        f"<p>{html.escape(report['availability']['note'])}</p>",
        grid(availability_rows(report)),
        "<h2>Pelanggaran tingkat layanan</h2>",
        grid(breach_rows(report)),
    ]
    if report.get("supervision") is not None:
        parts += [
            "<h2>Temuan pengawasan (Pasal 8 ayat (5) huruf b)</h2>",
            grid(finding_rows(report)),
        ]
    procedure = report.get("procedure")
    if procedure:
        parts += [
            "<h2>Prosedur akses (Pasal 7)</h2>",
            table(
                (("label", "Langkah"), ("value", "Jumlah")),
                [{"label": label, "value": procedure[k]} for k, label in PROCEDURE_ROWS],
            ),
        ]
    parts.append("</body></html>")
    return "".join(parts).encode()


# --- XLSX ---------------------------------------------------------------------------------


def to_xlsx(report: dict[str, Any]) -> bytes:
    """A workbook: a summary sheet with the narrative and two native charts, and one sheet
    per table."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    summary.title = "Ringkasan"
    summary["A1"] = TITLE
    summary["A1"].font = Font(bold=True, size=14)
    summary["A2"] = f"{SUBTITLE} - {report['label']} ({report['from']} s.d. {report['to']}, WIB)"
    for n, paragraph in enumerate(report["narrative"], start=4):
        summary.cell(row=n, column=1, value=paragraph)
    summary.column_dimensions["A"].width = 120

    def sheet(title: str, columns: tuple[tuple[str, str], ...], rows: list[dict[str, Any]]) -> Any:
        ws = book.create_sheet(title)
        ws.append([label for _, label in columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([row.get(k) for k, _ in columns])
        ws.column_dimensions["A"].width = 34
        return ws

    services = sheet("Per layanan", SERVICE_COLUMNS, report["by_service"])
    sheet("Per peminta", REQUESTER_COLUMNS, report["by_requester"])
    sheet("Per operasi", OPERATION_COLUMNS, report["by_operation"])
    header, cross = _cross_rows(report)
    ws = book.create_sheet("Layanan x peminta")
    ws.append(header)
    for row in cross:
        ws.append(row)
    ws.column_dimensions["A"].width = 34
    unused = book.create_sheet("Tidak digunakan")
    unused.append(["Layanan tanpa panggilan"])
    for s in report["unused_services"]:
        unused.append([s])
    unused.append([])
    unused.append(["Izin tanpa panggilan: layanan", "peminta"])
    for g in report["unused_grants"]:
        unused.append([g["service"], g["requester"]])
    unused.column_dimensions["A"].width = 34
    for title, rows in (
        ("Ketersediaan", availability_rows(report, raw=True)),
        ("Pelanggaran SLA", breach_rows(report, raw=True)),
        *(
            [("Temuan pengawasan", finding_rows(report))]
            if report.get("supervision") is not None
            else []
        ),
    ):
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.column_dimensions["A"].width = 34
    procedure = report.get("procedure")
    if procedure:
        ws = book.create_sheet("Prosedur akses")
        ws.append(["Langkah", "Jumlah"])
        for key, label in PROCEDURE_ROWS:
            ws.append([label, procedure[key]])
        ws.append(
            ["Median jam keputusan administrator", procedure["median_hours"]["administrator"]]
        )
        ws.append(["Median jam keputusan penerbit", procedure["median_hours"]["publisher"]])
        ws.append(
            ["Disetujui, belum diberi izin > 14 hari", len(procedure["approved_not_granted"])]
        )
        ws.append(["Izin berakhir periode berikutnya", len(procedure["expiring_next_period"])])
        ws.column_dimensions["A"].width = 40

    unit, points = timeline(report)
    trend = book.create_sheet("Tren")
    trend.append([unit.capitalize(), "Panggilan", "Kesalahan peminta", "Kegagalan penerbit"])
    for point in points:
        trend.append(list(point))

    bars = BarChart()
    bars.title = "Panggilan per layanan"
    bars.y_axis.title = "Panggilan"
    count = len(report["by_service"])
    if count:
        bars.add_data(
            Reference(services, min_col=2, min_row=1, max_row=count + 1), titles_from_data=True
        )
        bars.set_categories(Reference(services, min_col=1, min_row=2, max_row=count + 1))
    bars.width, bars.height = 24, 9
    summary.add_chart(bars, f"A{len(report['narrative']) + 6}")

    line = LineChart()
    line.title = f"Panggilan dan kegagalan per {unit}"
    line.add_data(
        Reference(trend, min_col=2, max_col=4, min_row=1, max_row=len(points) + 1),
        titles_from_data=True,
    )
    line.set_categories(Reference(trend, min_col=1, min_row=2, max_row=len(points) + 1))
    line.width, line.height = 24, 9
    summary.add_chart(line, f"A{len(report['narrative']) + 26}")

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- PDF ----------------------------------------------------------------------------------


def to_pdf(report: dict[str, Any]) -> bytes:
    """An A4 document: title, narrative, charts, then the tables."""
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    width = A4[0] - 3 * cm

    def grid(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
        if len(rows) == 1:  # a header alone: say there is nothing
            rows = [*rows, ["(tidak ada)", *([""] * (len(rows[0]) - 1))]]
        cells = [[Paragraph(html.escape(_cell(v)), small) for v in row] for row in rows]
        t = Table(cells, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    def rows_of(
        columns: tuple[tuple[str, str], ...], rows: list[dict[str, Any]]
    ) -> list[list[Any]]:
        return [[label for _, label in columns], *([r.get(k) for k, _ in columns] for r in rows)]

    def first_wide(n: int) -> list[float]:
        return [width * 0.24] + [width * 0.76 / (n - 1)] * (n - 1)

    def cross_tables() -> list[Any]:
        """The cross-tab, :data:`CROSS_COLUMNS` requesters at a time (A4 is narrow)."""
        header, rows = _cross_rows(report)
        requesters = header[1:] or ["-"]
        tables: list[Any] = []
        for first in range(0, len(requesters), CROSS_COLUMNS):
            n = min(CROSS_COLUMNS, len(requesters) - first)
            columns = slice(first + 1, first + 1 + n)
            part = [[header[0], *header[columns]], *([r[0], *r[columns]] for r in rows)]
            tables += [grid(part, first_wide(n + 1)), Spacer(1, 0.2 * cm)]
        return tables

    def section(title: str, *flowables: Any) -> KeepTogether:
        """A heading kept on the page of what follows it."""
        return KeepTogether([Paragraph(title, styles["Heading2"]), *flowables])

    def bar_chart() -> Drawing:
        """Horizontal bars, the busiest :data:`TOP_SERVICES` services (names stay legible)."""
        services = sorted(report["by_service"], key=lambda r: (-r["calls"], r["service"]))
        shown = services[:TOP_SERVICES]
        title = "Panggilan per layanan"
        if len(services) > len(shown):
            title += f" ({len(shown)} teratas dari {len(services)})"
        height = 40 + 14 * max(len(shown), 1)
        drawing = Drawing(width, height + 20)
        drawing.add(String(0, height + 8, title, fontSize=10))
        chart = HorizontalBarChart()
        chart.x, chart.y, chart.width, chart.height = 150, 20, width - 170, height - 30
        chart.data = [[s["calls"] for s in reversed(shown)] or [0]]
        chart.categoryAxis.categoryNames = [s["service"] for s in reversed(shown)] or ["-"]
        chart.categoryAxis.labels.fontSize = 6.5
        chart.categoryAxis.labels.boxAnchor = "e"
        chart.valueAxis.valueMin = 0
        chart.valueAxis.labels.fontSize = 7
        chart.bars[0].fillColor = colors.HexColor("#2f6690")
        drawing.add(chart)
        return drawing

    def line_chart() -> Drawing:
        unit, points = timeline(report)
        drawing = Drawing(width, 200)
        drawing.add(String(0, 188, f"Panggilan dan kegagalan per {unit}", fontSize=10))
        chart = HorizontalLineChart()
        chart.x, chart.y, chart.width, chart.height = 40, 40, width - 60, 130
        chart.data = [[p[i] for p in points] for i in (1, 2, 3)]
        chart.categoryAxis.categoryNames = [p[0] for p in points]
        chart.categoryAxis.labels.fontSize = 6.5
        chart.valueAxis.valueMin = 0
        chart.valueAxis.labels.fontSize = 7
        palette = (
            colors.HexColor("#2f6690"),
            colors.HexColor("#e0a030"),
            colors.HexColor("#c0392b"),
        )
        for i, color in enumerate(palette):
            chart.lines[i].strokeColor = color
            chart.lines[i].strokeWidth = 1.5
        drawing.add(chart)
        legend = Legend()
        legend.x, legend.y = 40, 12
        legend.fontSize = 7
        legend.alignment = "right"
        legend.columnMaximum = 1
        legend.colorNamePairs = list(
            zip(
                palette,
                ("Panggilan", "Kesalahan peminta (4xx)", "Kegagalan penerbit (5xx)"),
                strict=True,
            )
        )
        drawing.add(legend)
        return drawing

    story: list[Any] = [
        Paragraph(TITLE, styles["Title"]),
        Paragraph(
            f"{SUBTITLE} &middot; {html.escape(report['label'])} ({report['from']} s.d. "
            f"{report['to']}, WIB)",
            styles["Normal"],
        ),
        Spacer(1, 0.4 * cm),
        Paragraph("Ringkasan", styles["Heading2"]),
        *(Paragraph(html.escape(p), styles["BodyText"]) for p in report["narrative"]),
        Spacer(1, 0.3 * cm),
        bar_chart(),
        line_chart(),
        section(
            "Per layanan",
            grid(rows_of(SERVICE_COLUMNS, report["by_service"]), first_wide(len(SERVICE_COLUMNS))),
        ),
        section(
            "Per perangkat daerah peminta",
            grid(
                rows_of(REQUESTER_COLUMNS, report["by_requester"]),
                first_wide(len(REQUESTER_COLUMNS)),
            ),
        ),
        section("Per operasi", grid(rows_of(OPERATION_COLUMNS, report["by_operation"]))),
        Paragraph("Layanan &times; perangkat daerah (jumlah panggilan)", styles["Heading2"]),
        *cross_tables(),
        section(
            "Layanan dan izin yang tidak digunakan",
            grid([["Layanan tanpa panggilan"], *([s] for s in report["unused_services"])]),
            Spacer(1, 0.2 * cm),
            grid(
                rows_of(
                    (("service", "Izin tanpa panggilan: layanan"), ("requester", "Peminta")),
                    report["unused_grants"],
                )
            ),
        ),
        section(
            "Ketersediaan",
            Paragraph(html.escape(report["availability"]["note"]), styles["BodyText"]),
            Spacer(1, 0.2 * cm),
            grid(availability_rows(report), first_wide(6)),
        ),
        section(
            "Pelanggaran tingkat layanan",
            grid(breach_rows(report), [width * 0.4, width * 0.2, width * 0.2, width * 0.2]),
        ),
    ]
    if report.get("supervision") is not None:
        story.append(
            section(
                "Temuan pengawasan (Pasal 8 ayat (5) huruf b)",
                grid(
                    finding_rows(report),
                    [width * f for f in (0.06, 0.17, 0.1, 0.17, 0.16, 0.14, 0.2)],
                ),
            )
        )
    procedure = report.get("procedure")
    if procedure:
        story += [
            section(
                "Prosedur akses (Pasal 7)",
                grid(
                    [
                        ["Langkah", "Jumlah"],
                        *([label, procedure[k]] for k, label in PROCEDURE_ROWS),
                        [
                            "Median waktu keputusan administrator (jam)",
                            procedure["median_hours"]["administrator"],
                        ],
                        [
                            "Median waktu keputusan penerbit (jam)",
                            procedure["median_hours"]["publisher"],
                        ],
                    ]
                ),
            ),
            Spacer(1, 0.2 * cm),
            grid(
                [
                    ["Disetujui, belum diberi izin > 14 hari", "Peminta", "Layanan", "Hari"],
                    *(
                        [r["id"], r["requester"], r["service"], r["days_waiting"]]
                        for r in procedure["approved_not_granted"]
                    ),
                ]
            ),
            Spacer(1, 0.2 * cm),
            grid(
                [
                    [
                        f"Izin berakhir pada {procedure['next_period']}",
                        "Peminta",
                        "Layanan",
                        "Berakhir",
                    ],
                    *(
                        [r["id"], r["requester"], r["service"], r["expires_at"]]
                        for r in procedure["expiring_next_period"]
                    ),
                ]
            ),
        ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=f"{TITLE} - {report['label']}",
        author="SPLP",
        invariant=1,
    )
    document.build(story)
    return buffer.getvalue()


RENDERERS = {"html": to_html, "xlsx": to_xlsx, "pdf": to_pdf}
MEDIA_TYPES = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
