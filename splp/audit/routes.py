"""The audit API in the directory app, for monitors and administrators.

* ``GET /audit/events`` - records, filtered, in pages (``after`` = the last ``seq`` seen),
  each with everything its hash covers (``prev_hash``, ``flag``, ``sender``,
  ``provenance``, ``event``): what an export bundle holds, so a monitor can check them;
* ``GET /audit/head`` - the chain's head (``seq``, ``hash``);
* ``GET /audit/anchors`` - the heads the sink signed, in pages;
* ``GET /audit/keys`` - the sink's public keys (of this process's key file and of the
  anchors), to be confirmed by another channel before an auditor trusts one;
* ``GET /audit/export`` - the signed bundle of a period, as ``splp audit export`` writes
  it, when this process can read the sink's key file (at most :data:`EXPORT_LIMIT` records);
* ``GET /audit/verify`` - a bounded check: the latest anchor's signature, and the records
  since it (at most ``limit``), see :mod:`splp.audit.chain_status`;
* ``GET /audit/reports/usage`` - the evaluation report (JSON or CSV);
* ``GET /audit/reports/usage.svg`` - its chart of calls and errors per day;
* ``GET /audit/reports/abuse`` - the requesters with the most refused calls;
* ``GET /audit/reports/evaluasi`` - the evaluation report of a year, semester or month
  (JSON, HTML, PDF or XLSX), each one recorded in the chain with its sha256.

The audit store is ``SPLP_AUDIT_DATABASE_URL``, else the directory's database.

The router knows nothing of the directory: the process that mounts it (the control
plane, :mod:`splp.control_plane`) adds the role check as a router dependency and puts
a :class:`~splp.audit.reports.GrantCounter` on ``app.state.grant_counts`` for the
``active_grants`` column of the usage report, and a
:class:`~splp.audit.evaluation.DirectoryFacts` on ``app.state.evaluation_facts`` for the
evaluation report (and the caller's name on ``request.state.caller_name``).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.exc import IntegrityError

from splp.audit.chain_status import chain_status
from splp.audit.chart import usage_chart
from splp.audit.evaluation import BadPeriod, DirectoryFacts, Period, evaluation
from splp.audit.evaluation_documents import MEDIA_TYPES, RENDERERS
from splp.audit.export import TooLarge, export
from splp.audit.keys import SigningKey
from splp.audit.query import Filters, records
from splp.audit.reports import GrantCounter, GrantCounts, abuse, usage
from splp.audit.screen import screen
from splp.audit.store import AuditStore
from splp.bus.audit_events import audit_event
from splp.errors import ConfigurationError
from splp.web import Problem
from splp.web import problem_responses as problems

router = APIRouter(prefix="/audit", tags=["audit"])

MAX_DAYS = 400
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
SERVICE = r"^[^\x00.]+(\.[^\x00.]+(\.v\d{1,9})?)?$"

Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD (UTC)")]


def audit_store_of(request: Request) -> AuditStore:
    state = request.app.state
    if getattr(state, "audit_store", None) is None:
        state.audit_store = AuditStore(state.settings.audit_store_url)
    store: AuditStore = state.audit_store
    return store


def period(
    since: str | None, until: str | None, max_days: int | None = MAX_DAYS
) -> tuple[datetime, datetime]:
    """``[since, until]`` as whole UTC days; by default the last seven days.

    A day that does not exist, a period that ends before it starts or spans more than
    :data:`MAX_DAYS` is a 422 problem.
    """
    today = datetime.now(UTC).date()
    try:
        end = datetime.fromisoformat(until).date() if until else today
        start = datetime.fromisoformat(since).date() if since else end - timedelta(days=6)
    except (ValueError, OverflowError):
        raise Problem(422, "since and until must be real days (YYYY-MM-DD)") from None
    if start > end:
        raise Problem(422, "the period ends before it starts (until < since)")
    if max_days is not None and (end - start).days >= max_days:
        raise Problem(422, f"a period spans at most {max_days} days")
    if end.year >= 9999:
        raise Problem(422, "until is too far in the future")
    return (
        datetime.combine(start, time(), UTC),
        datetime.combine(end, time(), UTC) + timedelta(days=1),
    )


@router.get("/head")
async def chain_head(request: Request) -> dict[str, Any]:
    """The last record's ``seq`` and ``hash`` (``0`` and the genesis hash when empty)."""
    seq, digest = await audit_store_of(request).head()
    return {"seq": seq, "hash": digest}


@router.get("/anchors", responses=problems(422))
async def list_anchors(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Anchors after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Signed heads oldest first; pass ``next_after`` back as ``after`` for the next page."""
    page = await audit_store_of(request).anchors(after=after, limit=limit)
    return {"anchors": page, "next_after": page[-1]["id"] if page else after}


def _own_key(request: Request) -> SigningKey | None:
    """The key of ``SPLP_AUDIT_SIGNING_KEY_FILE``, if this process can read it: the key
    lives with the sink, not necessarily in the directory's process."""
    path = request.app.state.settings.audit_signing_key_file
    if path is None:
        return None
    try:
        return SigningKey.load(path)
    except ConfigurationError:
        return None


@router.get("/keys")
async def signing_keys(request: Request) -> dict[str, Any]:
    """The public keys (Ed25519, base64 of the 32 bytes) that signed anchors, and the one
    of ``SPLP_AUDIT_SIGNING_KEY_FILE`` when this process can read it."""
    keys: dict[str, dict[str, Any]] = {}
    key = _own_key(request)
    if key is not None:
        keys[key.key_id] = {"key_id": key.key_id, "public_key": key.public_base64}
    for key_id, public in await audit_store_of(request).anchor_keys():
        keys.setdefault(key_id, {"key_id": key_id, "public_key": public})
    return {"algorithm": "Ed25519", "keys": sorted(keys.values(), key=lambda k: k["key_id"])}


VERIFY_LIMIT = 100_000
EXPORT_LIMIT = 100_000


@router.get("/export", responses=problems(404, 409, 413, 422))
async def export_bundle(request: Request, since: Day = None, until: Day = None) -> Response:
    """The signed bundle of ``[since, until]`` (by default the last seven days), as
    ``splp audit export`` writes it, for ``splp audit verify --file BUNDLE --key KEY``:
    its head is signed now with the key of ``SPLP_AUDIT_SIGNING_KEY_FILE``, so this process
    must be able to read that file (409 when it cannot)."""
    start, end = period(since, until)
    key = _own_key(request)
    if key is None:
        raise Problem(
            409,
            "this process cannot read the sink's signing key (SPLP_AUDIT_SIGNING_KEY_FILE): "
            "export with splp audit export where the key is",
        )
    last_day = (end - timedelta(days=1)).date()
    try:
        bundle = await export(audit_store_of(request), start.date(), last_day, key, EXPORT_LIMIT)
    except TooLarge as exc:
        raise Problem(413, str(exc)) from None
    except ConfigurationError as exc:
        raise Problem(404, str(exc)) from None
    filename = f"audit-{start.date().isoformat()}-{last_day.isoformat()}.json"
    return Response(
        orjson.dumps(bundle),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/verify", responses=problems(422))
async def verify_status(
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=VERIFY_LIMIT, description="Check at most this many records.")
    ] = 10_000,
) -> dict[str, Any]:
    """The chain's verification status: its head, the latest signed anchor (does its
    signature verify, is its key this process's key file's) and a check of the records
    since that anchor, or of the last ``limit`` records without one. ``segment`` says what
    was checked; ``reached_head`` is false when more than ``limit`` records follow the
    anchor (``splp audit verify`` checks the whole chain)."""
    path = request.app.state.settings.audit_signing_key_file
    return await chain_status(audit_store_of(request), path, limit)


@router.get("/events", responses=problems(422))
async def list_events(
    request: Request,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Return records after this seq.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[str | None, Query(max_length=80, pattern=NO_NUL)] = None,
    service: Annotated[str | None, Query(max_length=140, pattern=SERVICE)] = None,
    requester: Annotated[str | None, Query(max_length=255, pattern=NO_NUL)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    since: Day = None,
    until: Day = None,
    latest: Annotated[
        bool, Query(description="The last `limit` matching records (still oldest first).")
    ] = False,
) -> dict[str, Any]:
    """Audit records oldest first; pass ``next_after`` back as ``after`` for the next page."""
    start, end = period(since, until, None) if since or until else (None, None)
    filters = Filters(start, end, kind, service, requester, status)
    page = await records(audit_store_of(request), filters, after=after, limit=limit, latest=latest)
    return {"records": page, "next_after": page[-1]["seq"] if page else after}


async def _grants(request: Request, start: datetime, end: datetime) -> GrantCounts:
    """Grants in force on each day of ``[start, end)``, from whoever mounted the router."""
    counter: GrantCounter | None = getattr(request.app.state, "grant_counts", None)
    if counter is None:
        return {}
    counts: GrantCounts = await counter(start.date(), (end - timedelta(days=1)).date())
    return counts


@router.get("/reports/usage", responses=problems(422))
async def usage_report(
    request: Request,
    since: Day = None,
    until: Day = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """Per day, per service and per requester: calls, error rate, latency, refusals, grants."""
    start, end = period(since, until)
    report = await usage(audit_store_of(request), start, end, await _grants(request, start, end))
    if format == "csv":
        return Response(to_csv(report), media_type="text/csv")
    return {
        "from": start.date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
        **report,
    }


@router.get("/reports/usage.svg", responses=problems(422))
async def usage_svg(
    request: Request,
    since: Day = None,
    until: Day = None,
    service: Annotated[str | None, Query(max_length=140, pattern=NO_NUL)] = None,
    lang: Annotated[
        str, Query(pattern="^(en|id)$", description="The chart's words: en or id.")
    ] = "en",
) -> Response:
    """A chart of calls and errors per day (all services, or one), in English or, with
    ``lang=id``, in Bahasa Indonesia."""
    start, end = period(since, until)
    report = await usage(audit_store_of(request), start, end)
    rows = [r for r in report["by_service"] if service is None or r["service"] == service]
    days = [(start + timedelta(days=n)).date().isoformat() for n in range((end - start).days)]
    subject = service or ("semua layanan" if lang == "id" else "all services")
    return Response(usage_chart(rows, subject, days, lang), media_type="image/svg+xml")


@router.get("/reports/abuse", responses=problems(422))
async def abuse_report(
    request: Request,
    since: Day = None,
    until: Day = None,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """The requesters with the most denied or throttled calls in the period."""
    start, end = period(since, until)
    report = await usage(audit_store_of(request), start, end)
    return {"requesters": abuse(report, top)}


@router.get("/reports/evaluasi", responses=problems(422))
async def evaluation_report(
    request: Request,
    period: Annotated[
        str,
        Query(max_length=16, pattern=NO_NUL, description="YYYY, YYYY-S1, YYYY-S2 or YYYY-MM (WIB)"),
    ],
    format: Annotated[str, Query(pattern="^(json|html|pdf|xlsx)$")] = "json",
) -> Response:
    """The evaluation report of a year, a semester or a month (Bungo Pasal 9), its days cut
    at midnight WIB; recorded in the audit chain (``admin.report-generated``, its sha256)."""
    try:
        chosen = Period.parse(period)
    except BadPeriod as exc:
        raise Problem(422, str(exc)) from None
    now = datetime.now(UTC)
    facts_of: DirectoryFacts | None = getattr(request.app.state, "evaluation_facts", None)
    facts = await facts_of(chosen, now) if facts_of is not None else None
    store = audit_store_of(request)
    report = await evaluation(store, chosen, facts, now)
    if format == "json":
        body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    else:
        # ReportLab and openpyxl are synchronous: kept off the event loop
        body = await asyncio.to_thread(RENDERERS[format], report)
    digest = hashlib.sha256(body).hexdigest()
    await record_report(
        store,
        actor=getattr(request.state, "caller_name", None) or "-",
        report="evaluasi",
        period=chosen.name,
        format=format,
        sha256=digest,
        size=len(body),
    )
    filename = f"evaluasi-{chosen.name}.{format}"
    return Response(
        body,
        media_type=MEDIA_TYPES[format],
        headers={
            "X-Report-SHA256": digest,
            "Content-Disposition": f'inline; filename="{filename}"',
        },
    )


async def record_report(store: AuditStore, **fields: Any) -> None:
    """Append an ``admin.report-generated`` event to the chain (a concurrent sink's append
    may win the next seq: then this one is tried again)."""
    # screened as the sink screens what it receives: a flag if it broke the event schema
    screened = screen(audit_event("admin.report-generated", "directory", **fields))
    for attempt in range(5):
        try:
            await store.append([screened])
            return
        except IntegrityError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))


def to_csv(report: dict[str, list[dict[str, Any]]]) -> str:
    """Both groupings in one CSV, told apart by the column ``by``."""
    buffer = io.StringIO()
    columns = [
        "by",
        "day",
        "name",
        "calls",
        "errors",
        "error_rate",
        "p50_ms",
        "p95_ms",
        "denied",
        "throttled",
        "active_grants",
    ]
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for by, name in (("service", "service"), ("requester", "requester")):
        for row in report[f"by_{by}"]:
            writer.writerow({**row, "by": by, "name": row[name]})
    return buffer.getvalue()
