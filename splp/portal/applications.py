"""A requester's applications and their gateway credentials (``/aplikasi``).

The HTTP gateway admits an application by its OAuth2 client credentials (RFC 6749 §4.4):
this page lists the party's applications (never a secret or its hash), registers a new
one or gives one a new secret and shows the secret exactly once, and revokes one.
Everything goes through the directory API (``/parties/{party}/clients``), which checks
again who may do it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from splp.portal.api import DirectoryApi
from splp.portal.desks import _placed, for_roles
from splp.portal.forms import read_form
from splp.portal.words import N_
from splp.web.csrf import CSRF_FIELD

router = APIRouter(include_in_schema=False)

REQUESTER = ("requester",)
TOKEN_PATH = "/oauth2/token"
"""Where an application trades its client id and secret for a token, on the gateway's
address (the gateway has no public-URL setting: the page shows the path)."""
CRUMBS = [(N_("My applications"), None)]
HINTS = (("name", "name"), ("api", "api_key"))


def _clients(party: str) -> str:
    return f"/parties/{quote(party, safe='')}/clients"


async def _page(
    request: Request,
    person: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    from splp.portal.pages import _show

    answer = await DirectoryApi(request).get(_clients(person["party"]), revoked="true")
    if not answer.ok:
        return _show(
            request,
            "error.html",
            person,
            status=answer.status,
            message=answer.detail,
            crumbs=CRUMBS,
        )
    applications = sorted(answer.body, key=lambda a: (a["revoked_at"] is not None, a["name"]))
    return _show(
        request,
        "applications.html",
        person,
        applications=applications,
        values=values or {},
        errors=errors or {},
        created=created,
        token_path=TOKEN_PATH,
        status=status,
        crumbs=CRUMBS,
    )


@router.get("/aplikasi")
async def applications_page(request: Request) -> Response:
    person, refused = await for_roles(request, REQUESTER)
    if person is None:
        return refused  # type: ignore[return-value]
    return await _page(request, person)


@router.post("/aplikasi")
async def add_application(request: Request) -> Response:
    """Register an application; its secret (and API key) is in this answer only."""
    person, refused = await for_roles(request, REQUESTER)
    if person is None:
        return refused  # type: ignore[return-value]
    form = await read_form(request)
    values = {"name": form.get("name", "").strip()[:100], "api_key": form.get("api_key") == "1"}
    if not values["name"]:
        return await _page(
            request, person, values=values, errors={"name": "This is required."}, status=422
        )
    api = DirectoryApi(request, csrf=form.get(CSRF_FIELD))
    answer = await api.post(_clients(person["party"]), values)
    if not answer.ok:
        return await _page(
            request,
            person,
            values=values,
            errors=_placed(answer, HINTS),
            status=answer.status,
        )
    return await _page(request, person, created=answer.body, status=201)


@router.post("/aplikasi/{client_id}/rahasia-baru")
async def rotate_secret(request: Request, client_id: str) -> Response:
    """A new client secret for an application, shown in this answer only."""
    person, refused = await for_roles(request, REQUESTER)
    if person is None:
        return refused  # type: ignore[return-value]
    form = await read_form(request)
    api = DirectoryApi(request, csrf=form.get(CSRF_FIELD))
    path = f"{_clients(person['party'])}/{quote(client_id[:40], safe='')}/secret"
    answer = await api.post(path)
    if not answer.ok:
        return await _page(request, person, errors={"form": answer.detail}, status=answer.status)
    return await _page(request, person, created={**answer.body, "rotated": True})


@router.post("/aplikasi/{client_id}/cabut")
async def revoke_application(request: Request, client_id: str) -> Response:
    """Revoke an application: the gateway refuses its credentials from its next refresh."""
    person, refused = await for_roles(request, REQUESTER)
    if person is None:
        return refused  # type: ignore[return-value]
    form = await read_form(request)
    api = DirectoryApi(request, csrf=form.get(CSRF_FIELD))
    answer = await api.delete(f"{_clients(person['party'])}/{quote(client_id[:40], safe='')}")
    if not answer.ok:
        return await _page(request, person, errors={"form": answer.detail}, status=answer.status)
    return RedirectResponse("/aplikasi", status_code=303)
