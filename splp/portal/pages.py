"""The portal's routes. Paths are Indonesian (``/masuk``, ``/katalog``, ``/permohonan``),
so they never meet the JSON API's. Every page needs a signed-in person except the login;
what a person may see and do is decided by the API each page calls."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from splp.portal.api import COOKIE, Answer, DirectoryApi
from splp.portal.desks import MENU, for_roles
from splp.portal.forms import Upload, read_form, read_upload_form
from splp.portal.i18n import WIB, gettext_for
from splp.portal.render import SECURITY_HEADERS, language_of, page
from splp.portal.schema_table import rows
from splp.portal.words import N_
from splp.web.csrf import CSRF_FIELD, csrf_matches, csrf_token

STATIC = Path(__file__).resolve().parent / "static"
LOGIN_CSRF = "splp_login_csrf"
REQUESTER = ("requester",)
STATES = ("submitted", "approved", "rejected", "granted", "declined", "suspended", "revoked")
STEPS = ("approve", "reject", "grant", "decline", "suspend", "resume", "revoke")

router = APIRouter(include_in_schema=False)


def mount_portal(app: FastAPI) -> None:
    """Serve the portal at ``/`` of ``app`` (the directory process)."""
    from splp.portal.applications import router as applications
    from splp.portal.desks import router as desks
    from splp.portal.monitor import router as monitor
    from splp.portal.publish import router as publish

    app.include_router(router)
    app.include_router(desks)
    app.include_router(applications)
    app.include_router(publish)
    app.include_router(monitor)
    app.mount("/aset", StaticFiles(directory=STATIC), name="portal-assets")


def _back_to_login(request: Request) -> RedirectResponse:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/masuk?lanjut={quote(wanted)}", status_code=303)


async def _person(request: Request) -> dict[str, Any] | None:
    if not request.cookies.get(COOKIE):
        return None
    me = await DirectoryApi(request).get("/auth/me")
    return me.body if me.ok else None


def _csrf(request: Request) -> str:
    return csrf_token(request.cookies.get(COOKIE, ""))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _show(request: Request, template: str, person: dict[str, Any], **context: Any) -> HTMLResponse:
    return page(request, template, person=person, csrf=_csrf(request), menu=MENU, **context)


# -- signing in and out ------------------------------------------------------------------


@router.get("/masuk")
async def login_page(request: Request, lanjut: str = "/") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", login_csrf=token, lanjut=_safe_next(lanjut), errors={})
    response.set_cookie(
        LOGIN_CSRF, token, max_age=1800, secure=True, httponly=True, samesite="strict"
    )
    return response


@router.post("/masuk")
async def login_sent(request: Request) -> Response:
    form = await read_form(request)
    lanjut = _safe_next(form.get("lanjut"))
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not secrets.compare_digest(cookie, form.get(CSRF_FIELD, "")):
        return page(
            request,
            "login.html",
            status=403,
            login_csrf=cookie,
            lanjut=lanjut,
            errors={"form": "The form has expired: reload the page and try again."},
            email=form.get("email", ""),
        )
    body: dict[str, Any] = {"email": form.get("email", ""), "password": form.get("password", "")}
    if form.get("code"):
        body["code"] = form["code"]
    answer = await DirectoryApi(request).post("/auth/login", body)
    if not answer.ok:
        fields = answer.field_errors()
        errors = (
            {"form": answer.message}
            if not fields
            else {name: message for name, message in fields.items()}
        )
        return page(
            request,
            "login.html",
            status=answer.status,
            login_csrf=cookie,
            lanjut=lanjut,
            errors=errors,
            email=form.get("email", ""),
            needs_code="6-digit code" in answer.detail,
        )
    response = RedirectResponse(lanjut, status_code=303)
    for value in answer.headers.get_list("set-cookie"):
        response.headers.append("set-cookie", value)
    response.delete_cookie(LOGIN_CSRF, secure=True, httponly=True, samesite="strict")
    return response


@router.post("/keluar")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    cookie = request.cookies.get(COOKIE, "")
    if cookie and not csrf_matches(cookie, form.get(CSRF_FIELD)):
        person = await _person(request)  # a forged sign-out changes nothing
        message = "The form has expired: reload the page and try again."
        if person is not None:
            return _show(request, "error.html", person, status=403, message=message)
    if cookie:
        await DirectoryApi(request).post("/auth/logout")
    response = RedirectResponse("/masuk", status_code=303)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


# -- dashboard -----------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    person = await _person(request)
    if person is None:
        return _back_to_login(request)
    api = DirectoryApi(request)
    roles = set(person["roles"])
    waiting: list[tuple[str, Any]] = []
    if "administrator" in roles:
        submitted = await api.get("/access-requests", state="submitted")
        waiting.append(("approve", submitted.body if submitted.ok else []))
    if "publisher" in roles:
        approved = await api.get("/access-requests", state="approved")
        mine = [r for r in (approved.body or []) if r["service"].split(".")[0] == person["party"]]
        waiting.append(("grant", mine))
    requests: list[Any] = []
    if "requester" in roles:
        own = await api.get("/access-requests")
        requests = [r for r in (own.body or []) if r["requester"] == person["party"]]
    return _show(request, "home.html", person, waiting=waiting, requests=requests)


# -- catalogue -----------------------------------------------------------------------------


@router.get("/katalog")
async def catalogue(request: Request, q: str = "", tema: str = "") -> Response:
    person = await _person(request)
    if person is None:
        return _back_to_login(request)
    api = DirectoryApi(request)
    themes = (await api.get("/themes")).body or []
    services = (await api.get("/services", theme=tema or None)).body or []
    words = q.strip().lower()[:100]
    if words:
        services = [
            s
            for s in services
            if words in " ".join([s["ref"], s["title"], s["description"]]).lower()
        ]
    by_theme: dict[str, list[Any]] = {}
    for service in services:
        by_theme.setdefault(service["theme"], []).append(service)
    return _show(
        request,
        "catalogue.html",
        person,
        themes=themes,
        by_theme=by_theme,
        q=q,
        tema=tema,
        crumbs=[("Catalogue", None)],
    )


@router.get("/katalog/{ref}")
async def service_page(request: Request, ref: str) -> Response:
    person = await _person(request)
    if person is None:
        return _back_to_login(request)
    answer = await DirectoryApi(request).get(f"/services/{quote(ref[:140], safe='')}")
    if not answer.ok:
        return _show(
            request,
            "error.html",
            person,
            status=answer.status,
            message=answer.message,
            crumbs=[("Catalogue", "/katalog"), (ref[:140], None)],
        )
    service = answer.body
    operations = []
    for name, operation in (service["descriptor"].get("operations") or {}).items():
        operations.append(
            {
                "name": name,
                "description": operation.get("description", ""),
                "request": rows(operation.get("request")),
                "response": rows(operation.get("response")),
            }
        )
    return _show(
        request,
        "service.html",
        person,
        service=service,
        operations=operations,
        crumbs=[("Catalogue", "/katalog"), (service["title"], None)],
    )


# -- access requests -----------------------------------------------------------------------


@router.get("/permohonan/baru")
async def apply_page(request: Request, layanan: str = "") -> Response:
    person, refused = await for_roles(request, REQUESTER)
    if person is None:
        return refused  # type: ignore[return-value]
    return await _apply_form(request, person, {"service": layanan[:140]}, {})


async def _apply_form(
    request: Request,
    person: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    service = None
    if values.get("service"):
        answer = await DirectoryApi(request).get(f"/services/{quote(values['service'], safe='')}")
        service = answer.body if answer.ok else None
        if not answer.ok:
            errors.setdefault("service", answer.message)
    return _show(
        request,
        "apply.html",
        person,
        service=service,
        max_days=request.app.state.settings.personal_grant_max_days,
        values=values,
        errors=errors,
        status=status,
        crumbs=[("Access requests", "/permohonan"), ("New request", None)],
    )


@router.post("/permohonan/baru")
async def apply_sent(request: Request) -> Response:
    person, refused = await for_roles(request, REQUESTER)
    if person is None:
        return refused  # type: ignore[return-value]
    form, letter = await read_upload_form(request, "letter")
    operations = [op for op in form.get_all("operations") if op]
    reason = form.get("reason", "").strip()
    values: dict[str, Any] = {
        "service": form.get("service", ""),
        "reason": reason,
        "operations": operations,
        "expires_wanted": form.get("expires_wanted", "").strip()[:40],
        **{name: form.get(name, "").strip() for name in STATEMENT_FIELDS},
    }
    body: dict[str, Any] = {"service": values["service"], "reason": reason}
    if reason:
        body["purpose"] = reason  # the purpose is what the requester is asked for
    for name in STATEMENT_FIELDS:
        if values[name]:
            body[name] = values[name]
    if operations:
        body["operations"] = operations
    if values["expires_wanted"]:
        wanted, problem = await _wanted_expiry(request, values["service"], values["expires_wanted"])
        if problem:
            return await _apply_form(
                request, person, values, {"expires_wanted": problem}, status=422
            )
        body["expires_wanted"] = wanted
    if letter is not None and (problem := _letter_problem(request, letter)):
        return await _apply_form(request, person, values, {"letter": problem}, status=422)
    api = DirectoryApi(request, csrf=form.get(CSRF_FIELD))
    answer = await api.post("/access-requests", body)
    if not answer.ok:
        return await _apply_form(request, person, values, _errors(answer), status=answer.status)
    number = answer.body["id"]
    if letter is not None:
        sent = await api.post_file(
            f"/access-requests/{number}/attachments",
            letter.data,
            "application/pdf",
            filename=letter.filename[:255],
        )
        if not sent.ok:  # checked above: the API's own check disagreeing is rare
            return await _request_view(
                request, person, number, {"form": sent.message}, {}, status=sent.status
            )
    return RedirectResponse(f"/permohonan/{number}", status_code=303)


def _errors(answer: Answer) -> dict[str, str]:
    """The API's refusal, beside the fields it names (a validation error, or the
    ``missing`` members of a data-protection refusal), else for the whole form."""
    errors = answer.field_errors()
    missing = answer.body.get("missing", []) if isinstance(answer.body, dict) else []
    for name in missing:
        errors.setdefault("reason" if name == "purpose" else str(name), "This is required.")
    if not errors or missing:
        errors.setdefault("form", answer.message)
    return errors


STATEMENT_FIELDS = ("legal_basis", "contact")
"""What a request to personal data states besides its purpose (UU 27/2022)."""
BAD_DATE = N_("Give the date as YYYY-MM-DD.")
PAST = N_("This date has passed: choose a day from today on.")
TOO_FAR = N_("Too far: access to personal data is granted for at most %(days)s days.")


async def _wanted_expiry(request: Request, service: str, text: str) -> tuple[str, str | None]:
    """The expiry wanted, as the end of that day in WIB (UTC, ISO 8601), or why not:
    a malformed or past date, or one beyond the longest grant of personal or sensitive
    data (``personal_grant_max_days``). The API checks the same again."""
    wanted = _end_of_day_wib(text)
    if wanted is None:
        return "", BAD_DATE
    moment = datetime.fromisoformat(wanted)
    now = datetime.now(UTC)
    if moment <= now:
        return "", PAST
    days = int(request.app.state.settings.personal_grant_max_days)
    if moment > now + timedelta(days=days) and service:
        answer = await DirectoryApi(request).get(f"/services/{quote(service[:140], safe='')}")
        if answer.ok and answer.body.get("classification") in ("personal", "sensitive"):
            return "", gettext_for(language_of(request))(TOO_FAR, days=days)
    return wanted, None


def _letter_problem(request: Request, letter: Upload) -> str | None:
    """Why the attached letter is refused (the directory checks it again), or ``None``."""
    limit = int(request.app.state.settings.attachment_max_bytes)
    if letter.content_type.split(";")[0].strip().lower() != "application/pdf":
        return "Attach the letter as a PDF file."
    if len(letter.data) > limit:
        return "The file is too large."
    if not letter.data.startswith(b"%PDF-"):
        return "The file is not a PDF document."
    return None


@router.get("/permohonan")
async def requests_page(request: Request, status: str = "") -> Response:
    person = await _person(request)
    if person is None:
        return _back_to_login(request)
    chosen = status if status in STATES else ""
    answer = await DirectoryApi(request).get("/access-requests", state=chosen or None)
    return _show(
        request,
        "requests.html",
        person,
        requests=answer.body if answer.ok else [],
        chosen=chosen,
        crumbs=[("Access requests", None)],
    )


@router.get("/permohonan/{request_id:int}")
async def request_page(request: Request, request_id: int) -> Response:
    person = await _person(request)
    if person is None:
        return _back_to_login(request)
    return await _request_view(request, person, request_id, {}, {})


async def _request_view(
    request: Request,
    person: dict[str, Any],
    request_id: int,
    errors: dict[str, str],
    values: dict[str, Any],
    status: int = 200,
) -> HTMLResponse:
    api = DirectoryApi(request)
    answer = await api.get(f"/access-requests/{request_id}")
    crumbs: list[tuple[str, str | None]] = [
        ("Access requests", "/permohonan"),
        (f"#{request_id}", None),
    ]
    if not answer.ok:
        return _show(
            request,
            "error.html",
            person,
            status=answer.status,
            message=answer.message,
            crumbs=crumbs,
        )
    steps = _steps(person, answer.body)
    if "grant" in steps and "expires_on" not in values and answer.body.get("expires_wanted"):
        values = {**values, "expires_on": _wib_day(answer.body["expires_wanted"])}
    history = await api.get(f"/access-requests/{request_id}/history")
    documents = await api.get(f"/access-requests/{request_id}/attachments")
    return _show(
        request,
        "request.html",
        person,
        item=answer.body,
        history=history.body or [],
        documents=documents.body if documents.ok else [],
        errors=errors,
        values=values,
        status=status,
        steps=steps,
        crumbs=crumbs,
    )


def _steps(person: dict[str, Any], item: dict[str, Any]) -> list[str]:
    """The steps this person may take on ``item`` now (the API decides again)."""
    roles = set(person["roles"])
    owner = "publisher" in roles and item["service"].split(".")[0] == person["party"]
    admin = "administrator" in roles
    state = item["state"]
    steps = []
    if state == "submitted" and admin:
        steps += ["approve", "reject"]
    if state == "approved" and owner:
        steps += ["grant", "decline"]
    if state == "granted" and (admin or owner):
        steps += ["suspend", "revoke"]
    if state == "suspended" and (admin or owner):
        steps += ["resume", "revoke"]
    return steps


@router.post("/permohonan/{request_id:int}/{step}")
async def take_step(request: Request, request_id: int, step: str) -> Response:
    person = await _person(request)
    if person is None:
        return _back_to_login(request)
    if step not in STEPS:
        return _show(request, "error.html", person, status=404, message="No such step.")
    form = await read_form(request)
    body: dict[str, Any] = {"reason": form.get("reason", "").strip()}
    values = dict(body)
    if step == "approve" and form.get("data_protection_note").strip():
        body["data_protection_note"] = form.get("data_protection_note").strip()
        values["data_protection_note"] = body["data_protection_note"]
    if step == "grant":
        if form.get("quota_per_minute"):
            body["quota_per_minute"] = form["quota_per_minute"]
        if form.get("expires_on"):
            body["expires_at"] = _end_of_day_wib(form["expires_on"])
            if body["expires_at"] is None:
                return await _request_view(
                    request,
                    person,
                    request_id,
                    {"expires_on": BAD_DATE},
                    {**values, **form.as_dict()},
                    status=422,
                )
        values |= form.as_dict()
    path = f"/access-requests/{request_id}/{step}"
    answer = await DirectoryApi(request, csrf=form.get(CSRF_FIELD)).post(path, body)
    if not answer.ok:
        errors = _errors(answer)
        return await _request_view(
            request, person, request_id, errors, values, status=answer.status
        )
    return RedirectResponse(f"/permohonan/{request_id}", status_code=303)


def _end_of_day_wib(text: str) -> str | None:
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    end = datetime.combine(day, time(23, 59, 59), tzinfo=WIB) + timedelta(seconds=0)
    return end.astimezone(UTC).isoformat()


def _wib_day(moment: str) -> str:
    """The WIB day of an ISO 8601 moment, as ``YYYY-MM-DD`` (a date field's value).

    >>> _wib_day("2027-06-30T16:59:59Z")
    '2027-06-30'
    """
    return datetime.fromisoformat(moment).astimezone(WIB).date().isoformat()


@router.get("/hak-akses")
async def grants_page(request: Request) -> Response:
    person, refused = await for_roles(request, REQUESTER)
    if person is None:
        return refused  # type: ignore[return-value]
    api = DirectoryApi(request)
    answer = await api.get("/access-requests", state="granted")
    mine = [g for g in (answer.body or []) if g["requester"] == person["party"]]
    calls = await api.get("/me/calls", days=USAGE_DAYS)
    usage = {row["service"]: row for row in calls.body["by_service"]} if calls.ok else None
    return _show(
        request,
        "grants.html",
        person,
        grants=mine,
        usage=usage,
        days=USAGE_DAYS,
        crumbs=[("My grants", None)],
    )


USAGE_DAYS = 30
"""The grants page shows the calls of the last 30 days (UTC days, today included)."""


__all__ = ["SECURITY_HEADERS", "mount_portal"]
