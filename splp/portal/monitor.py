"""The monitor's views of the chain's verification status and of the evaluation
(Pasal 9) and supervision (Pasal 8(6)) reports, for administrators and monitors.

* ``/audit/verifikasi`` - ``GET /audit/verify``: the head, the latest signed anchor and a
  bounded check of the records since it;
* ``/laporan/evaluasi?periode=2026-11`` - ``GET /audit/reports/evaluasi`` as tables, with
  links to its PDF and XLSX;
* ``/laporan/pengawasan?periode=2026-S2`` - ``GET /supervision/report``: the checklist per
  OD and the misuse hits with their follow-ups.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from splp.portal.api import DirectoryApi
from splp.portal.i18n import WIB
from splp.portal.render import language_of
from splp.portal.words import N_
from splp.web.chart import usage_chart

router = APIRouter(include_in_schema=False)

SUPERVISORS = ("administrator", "monitor")
PERIOD = re.compile(r"^\d{4}(-(S[12]|\d{2}))?$")
VERIFY_MAX = 100_000
EVALUATION_KEYS = {  # the sections the page shows itself; any other key shows as it is
    "period",
    "label",
    "from",
    "to",
    "timezone",
    "generated_at",
    "totals",
    "by_service",
    "by_requester",
    "by_operation",
    "cross_tab",
    "daily",
    "unused_services",
    "unused_grants",
    "grants_in_force",
    "procedure",
    "narrative",
    "availability",  # these three: service_level_macros.html
    "service_level_breaches",
    "supervision",
}
KEYS = [  # names in the reports' data that the page shows as headings
    N_("api_token"),
    N_("broker_password"),
    N_("note"),
    N_("services"),
    N_("service"),
    N_("operation"),
    N_("id"),
    N_("state"),
    N_("expires_at"),
    N_("approved_at"),
    N_("days_waiting"),
    N_("calls"),  # a misuse hit's figures
    N_("not_found"),
    N_("ratio"),
    N_("baseline_mean"),
    N_("factor"),
    N_("operations_before"),
]
BAD_PERIOD = N_("Give the period as a year (2026), a semester (2026-S2) or a month (2026-11).")
MESSAGES = [
    N_("Give a whole number from 1 to 100000."),
    N_("Chain verification"),
    N_("Evaluation report"),
    N_("Supervision report"),
]


async def _allowed(request: Request) -> tuple[dict[str, Any] | None, Response | None]:
    from splp.portal.desks import for_roles

    return await for_roles(request, SUPERVISORS)


def _show(request: Request, template: str, person: dict[str, Any], **context: Any) -> Response:
    from splp.portal.pages import _show as show

    return show(request, template, person, **context)


@router.get("/audit/verifikasi")
async def chain_page(request: Request, batas: str = "") -> Response:
    person, refused = await _allowed(request)
    if person is None:
        return refused  # type: ignore[return-value]
    crumbs: list[tuple[str, str | None]] = [
        ("Audit log", "/audit"),
        ("Chain verification", None),
    ]
    wanted = batas.strip()[:7]
    if wanted and not (wanted.isdigit() and 1 <= int(wanted) <= VERIFY_MAX):
        return _show(
            request,
            "chain.html",
            person,
            status=422,
            chain=None,
            batas=wanted,
            errors={"batas": "Give a whole number from 1 to 100000."},
            crumbs=crumbs,
        )
    answer = await DirectoryApi(request).get("/audit/verify", limit=wanted or None)
    errors = {} if answer.ok else {"form": answer.message}
    return _show(
        request,
        "chain.html",
        person,
        status=200 if answer.ok else answer.status,
        chain=answer.body if answer.ok else None,
        batas=wanted,
        errors=errors,
        crumbs=crumbs,
    )


def _period(text: str) -> tuple[str, dict[str, str]]:
    """The period asked for, and an error beside its field if it is not one."""
    chosen = text.strip()[:16]
    if chosen and not PERIOD.match(chosen):
        return chosen, {"periode": BAD_PERIOD}
    return chosen, {}


def evaluation_chart(report: dict[str, Any], language: str) -> Markup | None:
    """The chart of calls and errors (publisher failures and caller errors) per WIB day of
    the report's period, as inline SVG (drawn from the report's ``daily`` figures: no
    second query)."""
    try:
        first = date.fromisoformat(str(report["from"]))
        last = date.fromisoformat(str(report["to"]))
        rows = [
            {
                "day": str(row["day"]),
                "calls": int(row.get("calls", 0)),
                "errors": int(row.get("publisher_failures", 0)) + int(row.get("caller_errors", 0)),
            }
            for row in report.get("daily") or []
        ]
    except (KeyError, TypeError, ValueError):
        return None
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    subject = "semua layanan" if language == "id" else "all services"
    svg = usage_chart(rows, subject, days, language, zone="WIB")  # escapes what it writes
    return Markup(svg.replace("<svg ", '<svg role="img" aria-labelledby="judul-grafik" ', 1))


def _this_month() -> str:
    return datetime.now(UTC).astimezone(WIB).strftime("%Y-%m")


async def _period_report(
    request: Request, periode: str, path: str
) -> tuple[str, dict[str, Any] | None, dict[str, str], int]:
    """The period asked for, the API's report of it at ``path`` (none when the period is
    missing or wrong, or the API refused), the errors beside the field, and the status."""
    chosen, errors = _period(periode)
    if not chosen or errors:
        return chosen, None, errors, 422 if errors else 200
    answer = await DirectoryApi(request).get(path, period=chosen)
    if answer.ok and isinstance(answer.body, dict):
        return chosen, answer.body, errors, 200
    return chosen, None, {"periode": answer.message}, answer.status


@router.get("/laporan/evaluasi")
async def evaluation_page(request: Request, periode: str = "") -> Response:
    person, refused = await _allowed(request)
    if person is None:
        return refused  # type: ignore[return-value]
    chosen, report, errors, status = await _period_report(
        request, periode, "/audit/reports/evaluasi"
    )
    crumbs: list[tuple[str, str | None]] = [("Reports", "/laporan"), ("Evaluation report", None)]
    extra = {k: v for k, v in (report or {}).items() if k not in EVALUATION_KEYS and v}
    downloads = []
    chart = None
    if report is not None:
        for kind in ("pdf", "xlsx", "html"):
            query = urlencode({"period": report["period"], "format": kind})
            downloads.append((kind, f"/audit/reports/evaluasi?{query}"))
        chart = evaluation_chart(report, language_of(request))
    return _show(
        request,
        "evaluation.html",
        person,
        status=status,
        periode=chosen or _this_month(),
        errors=errors,
        report=report,
        extra=extra,
        downloads=downloads,
        chart=chart,
        crumbs=crumbs,
    )


@router.get("/laporan/pengawasan")
async def supervision_page(request: Request, periode: str = "") -> Response:
    person, refused = await _allowed(request)
    if person is None:
        return refused  # type: ignore[return-value]
    chosen, report, errors, status = await _period_report(request, periode, "/supervision/report")
    crumbs: list[tuple[str, str | None]] = [("Reports", "/laporan"), ("Supervision report", None)]
    return _show(
        request,
        "supervision.html",
        person,
        status=status,
        periode=chosen or _this_month(),
        errors=errors,
        report=report,
        crumbs=crumbs,
    )
