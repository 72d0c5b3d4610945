"""The authorization matrix: every route x every kind of caller, each with its expected status.

Callers: an administrator, the publisher that owns the service, another publisher, a
requester, a monitor, the HTTP gateway's party and an anonymous client. Each cell runs on
fresh state made by the route's set-up, so a 200 for one caller never spoils the next
caller's cell.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.data_protection import STATEMENT
from tests.directory.conftest import STEP_TERMS, Api, publish, walk

CALLERS = ("admin", "owner", "other-publisher", "requester", "monitor", "gateway", "anonymous")
PARTY = {
    "admin": "admin",
    "owner": "dukcapil",
    "other-publisher": "bapenda",
    "requester": "dinsos",
    "monitor": "inspektorat",
    "gateway": "gerbang",
    "anonymous": None,
}
_counter = itertools.count(1)

Setup = Callable[[Api, dict[str, Any]], Awaitable[dict[str, Any]]]


async def nothing(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    return {"n": next(_counter)}


async def a_service(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    """A freshly published service of dukcapil."""
    n = next(_counter)
    document = {**copy.deepcopy(penduduk), "service": f"svc-{n}"}
    assert (await publish(api, document)).status_code == 201
    return {"n": n, "ref": f"dukcapil.svc-{n}.v1"}


async def a_party(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    n = next(_counter)
    response = await api.post(
        "/parties", json={"name": f"od-{n}", "roles": ["requester"]}, headers=api.as_("admin")
    )
    assert response.status_code == 201
    return {"n": n, "name": f"od-{n}"}


async def a_client(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    """A new application of dinsos (the requester caller)."""
    n = next(_counter)
    response = await api.post(
        "/parties/dinsos/clients", json={"name": f"app-{n}"}, headers=api.as_("admin")
    )
    assert response.status_code == 201, response.text
    return {"n": n, "client_id": response.json()["client_id"]}


PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


async def an_attachment(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    """A submitted request of dinsos with one document attached."""
    rid = await walk(api, penduduk, "submitted")
    answer = await api.post(
        f"/access-requests/{rid}/attachments",
        content=PDF,
        headers={**api.as_("dinsos"), "Content-Type": "application/pdf"},
    )
    assert answer.status_code == 201, answer.text
    return {"n": next(_counter), "id": rid, "doc": answer.json()["id"]}


async def a_user(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    """A new person of dinsos (no password yet)."""
    n = next(_counter)
    body = {"party": "dinsos", "email": f"orang-{n}@dinsos.go.id", "name": f"Orang {n}"}
    response = await api.post(
        "/users", json={**body, "roles": ["requester"]}, headers=api.as_("admin")
    )
    assert response.status_code == 201, response.text
    return {"n": n, "email": body["email"]}


async def a_hit(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    """A misuse hit raised by the rules, for follow-ups."""
    from datetime import UTC, datetime, timedelta

    from splp.directory_service.supervision import HitIn, raise_hit

    n = next(_counter)
    app: Any = api.app  # type: ignore[attr-defined]
    until = datetime.now(UTC)
    hit = HitIn(f"hit-{n}", "failed_logins", f"user-{n}", until - timedelta(hours=1), until)
    async with app.state.store.sessions() as session:
        raised = await raise_hit(session, app.state.events, hit)
        await session.commit()
    assert raised is not None
    return {"n": n, "id": raised.hit["id"]}


def every(status: int, anonymous: int | None = None) -> dict[str, int]:
    """The same answer for every caller (a route whose outcome does not depend on a token)."""
    return {caller: status for caller in CALLERS} | (
        {"anonymous": anonymous} if anonymous is not None else {}
    )


def a_request(state: str) -> Setup:
    async def setup(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
        return {"n": next(_counter), "id": await walk(api, penduduk, state)}

    return setup


def allowed(*callers: str, status: int = 200) -> dict[str, int]:
    expected = {caller: 403 for caller in CALLERS}
    expected.update({caller: status for caller in callers})
    expected["anonymous"] = 401
    return expected


EVERYONE = ("admin", "owner", "other-publisher", "requester", "monitor", "gateway")


@dataclass
class Cell:
    method: str
    path: str
    expected: dict[str, int]
    setup: Setup = nothing
    body: Callable[[dict[str, Any]], Any] | None = None
    route: str = field(default="")
    pdf: bool = False  # the body is a PDF document, not JSON

    def __post_init__(self) -> None:
        self.route = self.route or self.path


MATRIX = [
    Cell(
        "POST",
        "/parties",
        allowed("admin", status=201),
        body=lambda s: {"name": f"party-{s['n']}", "roles": ["requester"]},
    ),
    Cell("GET", "/parties", allowed("admin", "monitor")),
    Cell("GET", "/parties/dinsos", allowed("admin", "monitor"), route="/parties/{name}"),
    Cell("POST", "/parties/{name}/token", allowed("admin"), a_party),
    Cell(
        "POST",
        "/parties/{name}/broker-password",
        allowed("admin"),
        a_party,
        body=lambda s: {},
    ),
    Cell("GET", "/me", allowed(*EVERYONE)),
    Cell(
        "POST",
        "/users",
        allowed("admin", status=201),
        body=lambda s: {
            "party": "dinsos",
            "email": f"baru-{s['n']}@dinsos.go.id",
            "name": "Baru",
            "roles": ["requester"],
        },
    ),
    Cell("GET", "/users", allowed("admin", "monitor"), a_user),
    Cell("POST", "/users/{email}/disable", allowed("admin"), a_user),
    Cell("POST", "/users/{email}/reset-password", allowed("admin"), a_user),
    Cell(
        "POST",
        "/auth/login",
        every(401),
        a_user,
        body=lambda s: {"email": s["email"], "password": "not the password"},
    ),
    Cell("POST", "/auth/logout", every(204)),
    # a token is a machine, not a person: it has no account, password or second factor
    Cell("GET", "/auth/me", every(404, anonymous=401)),
    Cell(
        "POST",
        "/auth/set-password",
        every(400),
        body=lambda s: {"token": "splp_unknown", "password": "panjang sekali kata sandinya"},
    ),
    Cell("POST", "/auth/totp", every(404, anonymous=401)),
    Cell(
        "POST", "/auth/totp/confirm", every(404, anonymous=401), body=lambda s: {"code": "123456"}
    ),
    Cell(
        "POST",
        "/parties/dinsos/clients",
        allowed("admin", "requester", status=201),
        body=lambda s: {"name": f"app-{s['n']}"},
        route="/parties/{name}/clients",
    ),
    Cell(
        "GET",
        "/parties/dinsos/clients",
        allowed("admin", "monitor", "requester"),
        a_client,
        route="/parties/{name}/clients",
    ),
    Cell(
        "POST",
        "/parties/dinsos/clients/{client_id}/secret",
        allowed("admin", "requester"),
        a_client,
        route="/parties/{name}/clients/{client_id}/secret",
    ),
    Cell(
        "DELETE",
        "/parties/dinsos/clients/{client_id}",
        allowed("admin", "requester"),
        a_client,
        route="/parties/{name}/clients/{client_id}",
    ),
    Cell("GET", "/gateway/credentials", allowed("gateway"), a_client),
    Cell("GET", "/gateway/grants", allowed("gateway"), a_request("granted")),
    Cell(
        "POST", "/themes", allowed("admin", status=201), body=lambda s: {"name": f"theme-{s['n']}"}
    ),
    Cell("GET", "/themes", allowed(*EVERYONE)),
    Cell(
        "GET",
        "/themes/kependudukan/asyncapi",
        allowed(*EVERYONE),
        a_service,
        route="/themes/{theme}/asyncapi",
    ),
    Cell(
        "POST",
        "/services",
        allowed("owner", status=201),
        body=lambda s: {"service": f"new-{s['n']}"},
    ),
    Cell(
        "POST",
        "/services/preview",
        allowed("owner"),
        body=lambda s: {"service": f"preview-{s['n']}"},
    ),
    Cell("GET", "/services", allowed(*EVERYONE), a_service),
    Cell("GET", "/services/{ref}", allowed(*EVERYONE), a_service),
    Cell("GET", "/services/{ref}/descriptor", allowed(*EVERYONE), a_service),
    Cell("GET", "/services/{ref}/openapi", allowed(*EVERYONE), a_service),
    Cell(
        "PUT",
        "/services/{ref}/versions/1.0.0/lifecycle",
        allowed("admin", "owner"),
        a_service,
        body=lambda s: {"lifecycle": "deprecated", "reason": "v2 is out"},
        route="/services/{ref}/versions/{version}/lifecycle",
    ),
    Cell("GET", "/services/{ref}/grants", allowed("admin", "owner", "monitor"), a_service),
    Cell(
        "POST",
        "/access-requests",
        allowed("requester", status=201),
        a_service,
        body=lambda s: {"service": s["ref"], "reason": "needed for bansos", **STATEMENT},
    ),
    Cell("GET", "/access-requests", allowed(*EVERYONE), a_request("submitted")),
    Cell(
        "GET",
        "/access-requests/{id}",
        allowed("admin", "owner", "requester", "monitor"),
        a_request("submitted"),
        route="/access-requests/{request_id}",
    ),
    Cell(
        "GET",
        "/access-requests/{id}/history",
        allowed("admin", "owner", "requester", "monitor"),
        a_request("submitted"),
        route="/access-requests/{request_id}/history",
    ),
    *[
        Cell(
            "POST",
            f"/access-requests/{{id}}/{step}",
            allowed(*who),
            a_request(state),
            body=lambda s, step=step: {"reason": "checked", **STEP_TERMS.get(step, {})},
            route=(
                "/access-requests/{request_id}/grant"
                if step == "grant"
                else "/access-requests/{request_id}/{step}"
            ),
        )
        for step, state, who in [
            ("approve", "submitted", ("admin",)),
            ("reject", "submitted", ("admin",)),
            ("grant", "approved", ("owner",)),
            ("decline", "approved", ("owner",)),
            ("revoke", "granted", ("admin", "owner")),
            ("suspend", "granted", ("admin", "owner")),
            ("resume", "suspended", ("admin", "owner")),
        ]
    ],
    Cell(
        "POST",
        "/access-requests/{id}/attachments",
        allowed("requester", status=201),
        a_request("submitted"),
        route="/access-requests/{request_id}/attachments",
        pdf=True,
    ),
    Cell(
        "GET",
        "/access-requests/{id}/attachments",
        allowed("admin", "owner", "requester", "monitor"),
        an_attachment,
        route="/access-requests/{request_id}/attachments",
    ),
    Cell(
        "GET",
        "/access-requests/{id}/attachments/{doc}",
        allowed("admin", "owner", "requester", "monitor"),
        an_attachment,
        route="/access-requests/{request_id}/attachments/{attachment_id}",
    ),
    Cell("GET", "/me/grants", allowed("requester"), a_request("granted")),
    Cell("GET", "/access-grants/expiring", allowed(*EVERYONE), a_request("granted")),
    Cell("POST", "/access-grants/expiring/notify", allowed("admin"), a_request("granted")),
    Cell("GET", "/subject-key", allowed("owner", "other-publisher")),
    Cell("POST", "/subject-keys/rotate", allowed("admin")),
    Cell("GET", "/audit/events", allowed("admin", "monitor")),
    Cell(
        "POST",
        "/audit/subject",
        allowed("admin", "monitor"),
        body=lambda s: {"service": "dukcapil.penduduk", "value": "1508010101900001"},
    ),
    Cell("GET", "/audit/reports/usage", allowed("admin", "monitor"), a_request("granted")),
    Cell("GET", "/audit/reports/usage.svg", allowed("admin", "monitor")),
    Cell("GET", "/audit/reports/abuse", allowed("admin", "monitor")),
    Cell("GET", "/audit/head", allowed("admin", "monitor")),
    Cell("GET", "/audit/anchors", allowed("admin", "monitor")),
    Cell("GET", "/audit/keys", allowed("admin", "monitor")),
    Cell("GET", "/audit/verify", allowed("admin", "monitor")),
    # no sink key in this suite's directory: a signed bundle is a 409 problem for those allowed
    Cell("GET", "/audit/export", allowed("admin", "monitor", status=409)),
    Cell("GET", "/me/usage", allowed("owner", "other-publisher"), a_request("granted")),
    Cell("GET", "/me/calls", allowed("requester"), a_request("granted")),
    # no management API in this suite: the broker's status is a 503 problem for those allowed
    Cell("GET", "/broker/status", allowed("admin", "monitor", status=503)),
    Cell(
        "GET",
        "/audit/reports/evaluasi?period=2026-11",
        allowed("admin", "monitor"),
        a_request("granted"),
        route="/audit/reports/evaluasi",
    ),
    Cell(
        "GET",
        "/supervision/report?period=2026-S2",
        allowed("admin", "monitor"),
        a_hit,
        route="/supervision/report",
    ),
    Cell(
        "GET",
        "/supervision/hits?period=2026",
        allowed("admin", "monitor"),
        route="/supervision/hits",
    ),
    Cell(
        "POST",
        "/supervision/hits/{id}/notes",
        allowed("admin", status=201),
        a_hit,
        body=lambda s: {"text": f"checked with the OD ({s['n']})"},
        route="/supervision/hits/{hit_id}/notes",
    ),
]


def test_the_matrix_covers_every_route() -> None:
    from splp.control_plane import create_app
    from splp.settings import Settings

    app = create_app(Settings(database_url="sqlite+aiosqlite:///unused.db"))
    routes = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    assert routes == {(cell.method, cell.route) for cell in MATRIX}


@pytest.mark.parametrize("cell", MATRIX, ids=[f"{c.method} {c.path}" for c in MATRIX])
async def test_authorization_matrix(api: Api, penduduk: dict[str, Any], cell: Cell) -> None:
    got = {}
    for caller in CALLERS:
        state = await cell.setup(api, penduduk)
        path = cell.path.format(**state)
        body = cell.body(state) if cell.body else None
        if cell.path in ("/services", "/services/preview") and cell.method == "POST":
            body = {**copy.deepcopy(penduduk), **body}
        if cell.pdf:
            headers = {**api.as_(PARTY[caller]), "Content-Type": "application/pdf"}
            response = await api.request(cell.method, path, content=PDF, headers=headers)
        else:
            response = await api.request(
                cell.method, path, json=body, headers=api.as_(PARTY[caller])
            )
        got[caller] = response.status_code
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", response.text
    assert got == cell.expected


async def test_a_wrong_token_is_401(api: Api) -> None:
    for token in (b"splp_not-a-token", b"", b"x" * 5000, "é".encode()):
        response = await api.get("/me", headers={"Authorization": b"Bearer " + token})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    basic = await api.get("/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert basic.status_code == 401
