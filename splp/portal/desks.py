"""The desks of the administrator, the publisher and the monitor: an inbox, parties and
their people, themes, suspensions, grants that expire soon, the broker's drift; the
publisher's approved requests, usage and grants per service; the audit log and the usage
and abuse reports.

Each page first checks the person's roles (a page the roles do not allow is a 403 with
a clear message and no data), then reads through the directory API as that person, which
decides again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from splp.portal.api import DirectoryApi
from splp.portal.forms import read_form
from splp.portal.words import N_
from splp.web.csrf import CSRF_FIELD

router = APIRouter(include_in_schema=False)

ADMIN = ("administrator",)
SUPERVISORS = ("administrator", "monitor")
PUBLISHER = ("publisher",)
SOON = timedelta(days=30)
AUDIT_PAGE = 50
ROLE_CHOICES = ("administrator", "publisher", "requester", "monitor", "gateway", "partner")
MENU = [  # (path, label, the roles that see it in the menu)
    ("/kotak-masuk", N_("Inbox"), ADMIN),
    ("/menunggu-pemberian", N_("Waiting for my grant"), PUBLISHER),
    ("/hak-akses-layanan", N_("Grants per service"), PUBLISHER),
    ("/penggunaan", N_("Usage of my services"), PUBLISHER),
    ("/layanan-saya/terbit", N_("Publish a version"), PUBLISHER),
    ("/pihak", N_("Parties and people"), ADMIN),
    ("/tema", N_("Themes"), ADMIN),
    ("/penangguhan", N_("Suspended grants"), ADMIN),
    ("/segera-berakhir", N_("Grants expiring soon"), ADMIN),
    ("/broker", N_("Broker"), SUPERVISORS),
    ("/audit", N_("Audit log"), SUPERVISORS),
    ("/laporan", N_("Reports"), SUPERVISORS),
    ("/audit/verifikasi", N_("Chain verification"), SUPERVISORS),
    ("/laporan/evaluasi", N_("Evaluation report"), SUPERVISORS),
    ("/laporan/pengawasan", N_("Supervision report"), SUPERVISORS),
]
CRUMBS = [
    N_("Inbox"),
    N_("Parties and people"),
    N_("Themes"),
    N_("Suspended grants"),
    N_("Grants expiring soon"),
    N_("Broker"),
    N_("Waiting for my grant"),
    N_("Usage of my services"),
    N_("Grants per service"),
    N_("Audit log"),
    N_("Reports"),
]


async def for_roles(
    request: Request, roles: Iterable[str]
) -> tuple[dict[str, Any] | None, Response | None]:
    """The person if signed in with one of ``roles``; else the answer to give instead."""
    from splp.portal.pages import _back_to_login, _person, _show

    person = await _person(request)
    if person is None:
        return None, _back_to_login(request)
    wanted = tuple(roles)
    if not set(person["roles"]) & set(wanted):
        crumbs = [("Not for your roles", None)]
        return None, _show(
            request, "forbidden.html", person, status=403, needed=wanted, crumbs=crumbs
        )
    return person, None


def _show(request: Request, template: str, person: dict[str, Any], **context: Any) -> HTMLResponse:
    from splp.portal.pages import _show as show

    return show(request, template, person, **context)


def _failed(request: Request, person: dict[str, Any], answer: Any, crumb: str) -> HTMLResponse:
    return _show(
        request,
        "error.html",
        person,
        status=answer.status,
        message=answer.message,
        crumbs=[(crumb, None)],
    )


def _placed(answer: Any, hints: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The API's complaint beside the field it is about: by its pointer, else by a word
    of its message (``hints``: word -> field), else at the top of the form."""
    fields: dict[str, str] = answer.field_errors()
    if fields:
        return fields
    detail, shown = answer.detail, answer.message
    for word, field in hints:
        if word in detail.lower():
            return {field: shown}
    return {"form": shown}


PERSON_HINTS = (("e-mail", "email"), ("nip", "nip"), ("role", "roles"), ("party", "party"))


# -- administrator -------------------------------------------------------------------------


@router.get("/kotak-masuk")
async def inbox(request: Request) -> Response:
    person, refused = await for_roles(request, ADMIN)
    if person is None:
        return refused  # type: ignore[return-value]
    answer = await DirectoryApi(request).get("/access-requests", state="submitted")
    if not answer.ok:
        return _failed(request, person, answer, "Inbox")
    return _show(
        request,
        "listing.html",
        person,
        heading=N_("Inbox"),
        intro=N_("Submitted requests, oldest first: open one to approve or reject it."),
        empty=N_("Nothing waits for you."),
        requests=sorted(answer.body, key=lambda r: r["id"]),
        show_wanted=True,
        crumbs=[("Inbox", None)],
    )


async def _parties_page(
    request: Request,
    person: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    api = DirectoryApi(request)
    parties = await api.get("/parties")
    users = await api.get("/users")
    if not parties.ok or not users.ok:
        return _failed(request, person, parties if not parties.ok else users, "Parties and people")
    people: dict[str, list[Any]] = {}
    for user in users.body:
        people.setdefault(user["party"], []).append(user)
    return _show(
        request,
        "parties.html",
        person,
        status=status,
        parties=parties.body,
        people=people,
        role_choices=ROLE_CHOICES,
        values=values or {},
        errors=errors or {},
        created=created,
        crumbs=[("Parties and people", None)],
    )


@router.get("/pihak")
async def parties_page(request: Request) -> Response:
    person, refused = await for_roles(request, ADMIN)
    if person is None:
        return refused  # type: ignore[return-value]
    return await _parties_page(request, person)


@router.post("/pihak/orang")
async def add_person(request: Request) -> Response:
    person, refused = await for_roles(request, ADMIN)
    if person is None:
        return refused  # type: ignore[return-value]
    form = await read_form(request)
    values: dict[str, Any] = {
        "party": form.get("party").strip(),
        "email": form.get("email").strip(),
        "name": form.get("name").strip(),
        "nip": form.get("nip").strip(),
        "roles": [r for r in form.get_all("roles") if r],
    }
    body = {k: v for k, v in values.items() if v not in ("", [])}
    body.setdefault("roles", [])
    answer = await DirectoryApi(request, csrf=form.get(CSRF_FIELD)).post("/users", body)
    if not answer.ok:
        errors = _placed(answer, PERSON_HINTS)
        return await _parties_page(
            request, person, values=values, errors=errors, status=answer.status
        )
    link = urlsplit(answer.body["setup_link"])
    created = {
        **answer.body,
        "setup_link": f"{str(request.base_url).rstrip('/')}{link.path}?{link.query}",
    }
    return await _parties_page(request, person, created=created, status=201)


async def _themes_page(
    request: Request,
    person: dict[str, Any],
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    answer = await DirectoryApi(request).get("/themes")
    if not answer.ok:
        return _failed(request, person, answer, "Themes")
    return _show(
        request,
        "themes.html",
        person,
        status=status,
        themes=answer.body,
        values=values or {},
        errors=errors or {},
        crumbs=[("Themes", None)],
    )


@router.get("/tema")
async def themes_page(request: Request) -> Response:
    person, refused = await for_roles(request, ADMIN)
    if person is None:
        return refused  # type: ignore[return-value]
    return await _themes_page(request, person)


@router.post("/tema")
async def add_theme(request: Request) -> Response:
    person, refused = await for_roles(request, ADMIN)
    if person is None:
        return refused  # type: ignore[return-value]
    form = await read_form(request)
    values = {k: form.get(k).strip() for k in ("name", "title", "description")}
    answer = await DirectoryApi(request, csrf=form.get(CSRF_FIELD)).post("/themes", values)
    if not answer.ok:
        errors = _placed(answer, (("theme", "name"),))
        return await _themes_page(request, person, values, errors, status=answer.status)
    return RedirectResponse("/tema", status_code=303)


@router.get("/penangguhan")
async def suspended_page(request: Request) -> Response:
    person, refused = await for_roles(request, ADMIN)
    if person is None:
        return refused  # type: ignore[return-value]
    answer = await DirectoryApi(request).get("/access-requests", state="suspended")
    if not answer.ok:
        return _failed(request, person, answer, "Suspended grants")
    return _show(
        request,
        "listing.html",
        person,
        heading=N_("Suspended grants"),
        intro=N_("Grants suspended for now: open one to resume or revoke it."),
        empty=N_("No grant is suspended."),
        requests=answer.body,
        crumbs=[("Suspended grants", None)],
    )


@router.get("/segera-berakhir")
async def expiring_page(request: Request) -> Response:
    person, refused = await for_roles(request, ADMIN)
    if person is None:
        return refused  # type: ignore[return-value]
    answer = await DirectoryApi(request).get("/access-requests", state="granted")
    if not answer.ok:
        return _failed(request, person, answer, "Grants expiring soon")
    now = datetime.now(UTC)
    soon = [
        g
        for g in answer.body
        if g.get("expires_at") and datetime.fromisoformat(g["expires_at"]) <= now + SOON
    ]
    soon.sort(key=lambda g: str(g["expires_at"]))
    return _show(
        request,
        "listing.html",
        person,
        heading=N_("Grants expiring soon"),
        intro=N_("Grants that end within 30 days, the first to end first."),
        empty=N_("No grant ends within 30 days."),
        requests=soon,
        show_expiry=True,
        crumbs=[("Grants expiring soon", None)],
    )


@router.get("/broker")
async def broker_page(request: Request) -> Response:
    person, refused = await for_roles(request, SUPERVISORS)
    if person is None:
        return refused  # type: ignore[return-value]
    answer = await DirectoryApi(request).get("/broker/status")
    return _show(
        request,
        "broker.html",
        person,
        status=200 if answer.ok or answer.status == 503 else answer.status,
        broker=answer.body if answer.ok else None,
        problem=None if answer.ok else answer.message,
        crumbs=[("Broker", None)],
    )


# -- publisher -----------------------------------------------------------------------------


def _own(person: dict[str, Any], items: list[Any]) -> list[Any]:
    return [r for r in items if str(r["service"]).split(".")[0] == person["party"]]


@router.get("/menunggu-pemberian")
async def waiting_grant_page(request: Request) -> Response:
    person, refused = await for_roles(request, PUBLISHER)
    if person is None:
        return refused  # type: ignore[return-value]
    answer = await DirectoryApi(request).get("/access-requests", state="approved")
    if not answer.ok:
        return _failed(request, person, answer, "Waiting for my grant")
    return _show(
        request,
        "listing.html",
        person,
        heading=N_("Waiting for my grant"),
        intro=N_("Approved requests for your services: open one to grant or decline it."),
        empty=N_("Nothing waits for you."),
        requests=_own(person, answer.body),
        crumbs=[("Waiting for my grant", None)],
    )


@router.get("/penggunaan")
async def my_usage_page(request: Request, sejak: str = "", sampai: str = "") -> Response:
    person, refused = await for_roles(request, PUBLISHER)
    if person is None:
        return refused  # type: ignore[return-value]
    answer = await DirectoryApi(request).get("/me/usage", since=sejak[:10], until=sampai[:10])
    return _show(
        request,
        "usage.html",
        person,
        status=200 if answer.ok else answer.status,
        report=answer.body if answer.ok else None,
        problem=None if answer.ok else answer.message,
        sejak=sejak[:10],
        sampai=sampai[:10],
        crumbs=[("Usage of my services", None)],
    )


@router.get("/hak-akses-layanan")
async def grants_per_service_page(request: Request) -> Response:
    person, refused = await for_roles(request, PUBLISHER)
    if person is None:
        return refused  # type: ignore[return-value]
    api = DirectoryApi(request)
    granted = await api.get("/access-requests", state="granted")
    suspended = await api.get("/access-requests", state="suspended")
    if not granted.ok or not suspended.ok:
        return _failed(
            request, person, granted if not granted.ok else suspended, "Grants per service"
        )
    by_service: dict[str, list[Any]] = {}
    for grant in sorted(_own(person, granted.body + suspended.body), key=lambda g: g["id"]):
        by_service.setdefault(grant["service"], []).append(grant)
    return _show(
        request,
        "per_service.html",
        person,
        by_service=dict(sorted(by_service.items())),
        crumbs=[("Grants per service", None)],
    )


# -- monitor -------------------------------------------------------------------------------

AUDIT_FILTERS = ("kind", "service", "requester", "status", "since", "until")


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    person, refused = await for_roles(request, SUPERVISORS)
    if person is None:
        return refused  # type: ignore[return-value]
    query = request.query_params
    filters = {name: query.get(name, "").strip()[:140] for name in AUDIT_FILTERS}
    after = query.get("after", "")
    after = after if after.isdigit() and len(after) < 19 else ""
    answer = await DirectoryApi(request).get(
        "/audit/events",
        after=after or None,
        limit=AUDIT_PAGE,
        latest=None if after else "true",
        **filters,
    )
    errors = {} if answer.ok else (answer.field_errors() or {"form": answer.message})
    records = answer.body["records"] if answer.ok else []
    chosen = {k: v for k, v in filters.items() if v}
    newer = None
    if answer.ok and after and len(records) == AUDIT_PAGE:
        newer = "?" + urlencode({**chosen, "after": answer.body["next_after"]})
    return _show(
        request,
        "audit.html",
        person,
        status=200 if answer.ok else answer.status,
        records=records,
        filters=filters,
        errors=errors,
        newer=newer,
        first="?" + urlencode({**chosen, "after": 0}),
        latest="?" + urlencode(chosen),
        on_latest=not after,
        crumbs=[("Audit log", None)],
    )


@router.get("/laporan")
async def reports_page(request: Request, sejak: str = "", sampai: str = "") -> Response:
    person, refused = await for_roles(request, SUPERVISORS)
    if person is None:
        return refused  # type: ignore[return-value]
    api = DirectoryApi(request)
    period = {"since": sejak[:10], "until": sampai[:10]}
    usage = await api.get("/audit/reports/usage", **period)
    abuse = await api.get("/audit/reports/abuse", **period)
    problem = None if usage.ok else usage.message
    chosen = {k: v for k, v in period.items() if v}
    return _show(
        request,
        "reports.html",
        person,
        status=200 if usage.ok else usage.status,
        report=usage.body if usage.ok else None,
        abuse=abuse.body["requesters"] if abuse.ok else [],
        problem=problem,
        chart=_chart_url(request, chosen),
        sejak=sejak[:10],
        sampai=sampai[:10],
        crumbs=[("Reports", None)],
    )


def _chart_url(request: Request, period: dict[str, str]) -> str:
    """The usage chart of ``period``, its words in the portal's language."""
    from splp.portal.render import language_of

    query = {**period, **({"lang": "id"} if language_of(request) == "id" else {})}
    return "/audit/reports/usage.svg" + ("?" + urlencode(query) if query else "")
