"""The publisher's page to publish a new version: paste or upload the descriptor (JSON),
see the compatibility report of the directory's dry run (``POST /services/preview``), then
confirm. The confirmation carries the same descriptor and the sha256 the dry run gave; the
directory checks both again (``POST /services?expect_sha256=``), so what is published is
what was previewed, and only the publisher's own services can be published (the API
answers 403 otherwise, shown here as a readable error)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from splp.portal.api import COOKIE, Answer, DirectoryApi
from splp.portal.forms import Form, read_upload_form
from splp.portal.i18n import gettext_for
from splp.portal.render import language_of
from splp.portal.words import N_
from splp.web.csrf import CSRF_FIELD, csrf_matches

router = APIRouter(include_in_schema=False)

PUBLISHER = ("publisher",)
PAGE = "/layanan-saya/terbit"
MAX_DESCRIPTOR = 512 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CRUMBS: list[tuple[str, str | None]] = [("Publish a version", None)]
Problem = tuple[str, dict[str, Any]]  # a msgid and its variables
BREAKING: list[tuple[re.Pattern[str], str]] = [  # the checker's words the portal translates
    (re.compile(r"^operation (?P<operation>\S+) removed$"), N_("The operation is removed.")),
    (
        re.compile(r"^theme changed from (?P<old>\S+) to (?P<new>\S+):"),
        N_("The theme changes from %(old)s to %(new)s: callers publish to the old one."),
    ),
    (
        re.compile(r"^request field (?P<field>\S+) is now required$"),
        N_("The request field %(field)s is now required."),
    ),
    (
        re.compile(r"^response field (?P<field>\S+) is no longer always present"),
        N_("The response field %(field)s is no longer always present (it was required)."),
    ),
    (
        re.compile(r"^request (?P<where>.+) no longer accepts additional fields"),
        N_("The request (%(where)s) no longer accepts additional fields."),
    ),
]
MESSAGES = [
    N_("Paste the descriptor or upload its file."),
    N_("The descriptor is too large."),
    N_("The file is not UTF-8 text."),
    N_("The text is not valid JSON: %(reason)s (line %(line)s, column %(column)s)."),
    N_("The descriptor must be a JSON object."),
    N_("Preview the descriptor first."),
]


def _descriptor(form: Form, upload_data: bytes | None) -> tuple[str, Any, Problem | None]:
    """The descriptor's text, its value, and what is wrong with it, if anything."""
    text = form.get("descriptor")
    if upload_data is not None:
        try:
            text = upload_data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return "", None, ("The file is not UTF-8 text.", {})
    if len(text.encode()) > MAX_DESCRIPTOR:
        return "", None, ("The descriptor is too large.", {})
    if not text.strip():
        return text, None, ("Paste the descriptor or upload its file.", {})
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = {"reason": exc.msg, "line": exc.lineno, "column": exc.colno}
        return (
            text,
            None,
            ("The text is not valid JSON: %(reason)s (line %(line)s, column %(column)s).", where),
        )
    if not isinstance(value, dict):
        return text, None, ("The descriptor must be a JSON object.", {})
    return text, value, None


def breaking_rows(reasons: list[str], gettext: Any) -> list[tuple[str, str]]:
    """The compatibility check's reasons as (operation, what breaks), translated where the
    portal knows the wording, else as the checker words it."""
    rows = []
    for reason in reasons:
        operation, _sep, rest = reason.partition(": ")
        if operation.startswith("operation ") and rest:
            operation = operation.removeprefix("operation ")
        else:
            operation, rest = "", reason
        for pattern, msgid in BREAKING:
            if (found := pattern.search(rest)) is not None:
                variables = found.groupdict()
                operation = variables.pop("operation", None) or operation
                rest = gettext(msgid, **variables) if variables else gettext(msgid)
                break
        rows.append((operation, rest))
    return rows


def _api_errors(answer: Answer) -> list[tuple[str, str]]:
    """The API's validation errors of the descriptor as (where, message)."""
    errors = answer.body.get("errors", []) if isinstance(answer.body, dict) else []
    found = []
    for error in errors:
        pointer = str(error.get("pointer", ""))
        where = pointer.removeprefix("body/").removeprefix("body")
        found.append((where or "-", str(error.get("message", ""))))
    return found


def _forged(request: Request, person: dict[str, Any], form: Form) -> Response | None:
    """A 403 page for a form without this session's CSRF token (checked here first, so
    that a forged form learns nothing of the descriptor's checks; the API checks again)."""
    from splp.portal.pages import _show

    if csrf_matches(request.cookies.get(COOKIE, ""), form.get(CSRF_FIELD) or None):
        return None
    message = "The form has expired: reload the page and try again."
    return _show(request, "error.html", person, status=403, message=message, crumbs=CRUMBS)


async def _form_page(
    request: Request,
    person: dict[str, Any],
    *,
    text: str = "",
    problem: Problem | str | None = None,
    details: list[tuple[str, str]] | None = None,
    report: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    from splp.portal.pages import _show

    gettext = gettext_for(language_of(request))
    if isinstance(problem, tuple):
        problem = gettext(problem[0], **problem[1]) if problem[1] else gettext(problem[0])
    breaking = breaking_rows(report["breaking_changes"], gettext) if report else []
    return _show(
        request,
        "publish.html",
        person,
        status=status,
        text=text,
        errors={"descriptor": problem} if problem else {},
        details=details or [],
        report=report,
        breaking=breaking,
        crumbs=CRUMBS,
    )


@router.get(PAGE)
async def publish_page(request: Request) -> Response:
    from splp.portal.desks import for_roles

    person, refused = await for_roles(request, PUBLISHER)
    if person is None:
        return refused  # type: ignore[return-value]
    return await _form_page(request, person)


@router.post(PAGE)
async def preview_sent(request: Request) -> Response:
    """Check the descriptor: errors beside it, or the compatibility report."""
    from splp.portal.desks import for_roles

    person, refused = await for_roles(request, PUBLISHER)
    if person is None:
        return refused  # type: ignore[return-value]
    form, upload = await read_upload_form(request, "file")
    if (forged := _forged(request, person, form)) is not None:
        return forged
    text, value, problem = _descriptor(form, upload.data if upload else None)
    if problem is not None:
        return await _form_page(request, person, text=text, problem=problem, status=422)
    api = DirectoryApi(request, csrf=form.get(CSRF_FIELD))
    answer = await api.call("POST", "/services/preview", value)
    if not answer.ok:
        return await _form_page(
            request,
            person,
            text=text,
            problem=answer.message,
            details=_api_errors(answer),
            status=answer.status,
        )
    return await _form_page(request, person, text=text, report=answer.body)


@router.post(PAGE + "/konfirmasi")
async def confirm_sent(request: Request) -> Response:
    """Publish the descriptor previewed (the API checks it and its sha256 again)."""
    from splp.portal.desks import for_roles

    person, refused = await for_roles(request, PUBLISHER)
    if person is None:
        return refused  # type: ignore[return-value]
    form, _upload = await read_upload_form(request, "file")
    if (forged := _forged(request, person, form)) is not None:
        return forged
    text, value, problem = _descriptor(form, None)
    digest = form.get("sha256")
    if problem is None and not SHA256.match(digest):
        problem = ("Preview the descriptor first.", {})
    if problem is not None:
        return await _form_page(request, person, text=text, problem=problem, status=422)
    api = DirectoryApi(request, csrf=form.get(CSRF_FIELD))
    answer = await api.call("POST", "/services", value, expect_sha256=digest)
    if not answer.ok:
        return await _form_page(
            request,
            person,
            text=text,
            problem=answer.message,
            details=_api_errors(answer),
            status=answer.status,
        )
    return RedirectResponse(f"/katalog/{quote(answer.body['ref'], safe='')}", status_code=303)
