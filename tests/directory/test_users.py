"""People's accounts: added by an administrator, password set from a one-time link, signed
in with a session cookie and a CSRF token, slowed then locked after failed logins, reset,
disabled, an optional second factor, and the person recorded beside the party at each
access step. Runs on SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest

from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.directory.conftest import PARTIES, directory_settings, publish
from tests.directory.test_access import audit_event_validator

PASSWORD = "kata sandi yang cukup panjang"


class Portal(httpx.AsyncClient):
    tokens: dict[str, str]
    app: Any

    def as_(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"}

    async def events(self) -> list[dict[str, Any]]:
        """The directory's audit events still in its outbox (no broker in these tests)."""
        events: list[dict[str, Any]] = await self.app.state.events.pending()
        return events


@pytest.fixture
async def portal(store: Store, parties: dict[str, str]) -> AsyncIterator[Portal]:
    settings = directory_settings(
        store.url, login_slow_after=2, login_lock_after=4, login_lock_seconds=60
    )
    app = create_app(settings, store=store)
    # https: the session cookie is Secure, so a client sends it back over TLS only
    async with Portal(transport=httpx.ASGITransport(app), base_url="https://directory") as client:
        client.tokens = parties
        client.app = app
        yield client
    await close_app(app)


async def me_with(portal: Portal, cookie: str) -> httpx.Response:
    """``GET /auth/me`` from another browser that holds only the session cookie ``cookie``."""
    async with httpx.AsyncClient(
        transport=portal._transport, base_url="https://directory", cookies={"splp_session": cookie}
    ) as browser:
        return await browser.get("/auth/me")


async def add_person(
    portal: Portal, party: str, email: str, roles: list[str], password: str | None = PASSWORD
) -> dict[str, Any]:
    answer = await portal.post(
        "/users",
        json={"party": party, "email": email, "name": f"Pegawai {party}", "roles": roles},
        headers=portal.as_("admin"),
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    if password is not None:
        chosen = await portal.post(
            "/auth/set-password", json={"token": created["setup_token"], "password": password}
        )
        assert chosen.status_code == 204, chosen.text
    return created


async def sign_in(portal: Portal, email: str, password: str = PASSWORD, **extra: Any) -> str:
    """Sign in (the client keeps the cookie); the CSRF token."""
    answer = await portal.post("/auth/login", json={"email": email, "password": password, **extra})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["csrf_token"]
    return token


async def test_an_administrator_adds_a_person_who_sets_a_password_once(portal: Portal) -> None:
    created = await add_person(portal, "dinsos", "Siti@Dinsos.go.id", ["requester"], None)
    assert created["user"]["email"] == "siti@dinsos.go.id"
    assert created["user"]["state"] == "pending"
    assert created["setup_link"].startswith("https://directory/auth/set-password?token=splp_")
    page = await portal.get(created["setup_link"])
    assert page.status_code == 200 and "Atur kata sandi" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # none at all
    short = await portal.post(
        "/auth/set-password", json={"token": created["setup_token"], "password": "pendek"}
    )
    assert short.status_code == 422 and "12 characters" in short.json()["detail"]
    ok = await portal.post(
        "/auth/set-password", json={"token": created["setup_token"], "password": PASSWORD}
    )
    assert ok.status_code == 204
    again = await portal.post(
        "/auth/set-password", json={"token": created["setup_token"], "password": PASSWORD + "!"}
    )
    assert again.status_code == 400, "a set-password link works once"
    listed = (await portal.get("/users", headers=portal.as_("admin"))).json()
    assert [(u["email"], u["state"]) for u in listed] == [("siti@dinsos.go.id", "active")]


async def test_the_set_password_form_works_without_script(portal: Portal) -> None:
    created = await add_person(portal, "dinsos", "form@dinsos.go.id", ["requester"], None)
    form = {"token": created["setup_token"], "password": PASSWORD, "password_again": "lain"}
    differ = await portal.post("/auth/set-password/form", data=form)
    assert differ.status_code == 422 and "tidak sama" in differ.text
    form["password_again"] = PASSWORD
    done = await portal.post("/auth/set-password/form", data=form)
    assert done.status_code == 200 and "Kata sandi tersimpan" in done.text
    await sign_in(portal, "form@dinsos.go.id")


async def test_bad_accounts_are_refused_clearly(portal: Portal) -> None:
    def body(**change: Any) -> dict[str, Any]:
        return {
            "party": "dinsos",
            "email": "a@dinsos.go.id",
            "name": "A",
            "roles": ["requester"],
        } | change

    cases = [
        (body(roles=["publisher"]), 422, "does not hold the role(s) publisher"),
        (body(email="not-an-address"), 422, "e-mail address is not valid"),
        (body(nip="123"), 422, "nip"),
        (body(roles=[]), 422, "roles"),
        (body(party="nobody"), 404, "no party named 'nobody'"),
        (body(extra=1), 422, "extra"),
    ]
    for payload, status, words in cases:
        answer = await portal.post("/users", json=payload, headers=portal.as_("admin"))
        assert answer.status_code == status, (payload, answer.text)
        assert words in answer.text, answer.text
    await add_person(portal, "dinsos", "a@dinsos.go.id", ["requester"], None)
    twice = await portal.post("/users", json=body(), headers=portal.as_("admin"))
    assert twice.status_code == 409
    by_requester = await portal.post(
        "/users", json=body(email="b@x.id"), headers=portal.as_("dinsos")
    )
    assert by_requester.status_code == 403


async def test_a_session_cookie_is_secure_renewed_at_login_and_ended_by_logout(
    portal: Portal,
) -> None:
    await add_person(portal, "dinsos", "budi@dinsos.go.id", ["requester"])
    await sign_in(portal, "budi@dinsos.go.id")
    first = portal.cookies["splp_session"]
    raw = (
        await portal.post("/auth/login", json={"email": "budi@dinsos.go.id", "password": PASSWORD})
    ).headers["set-cookie"]
    assert "HttpOnly" in raw and "Secure" in raw and "SameSite=strict" in raw, raw
    second = portal.cookies["splp_session"]
    assert second != first, "a login makes a new session id"
    stale = await me_with(portal, first)
    assert stale.status_code == 401, "the session the browser held before the login has ended"
    me = await portal.get("/auth/me")
    assert me.status_code == 200 and me.json()["email"] == "budi@dinsos.go.id"
    assert (await portal.post("/auth/logout")).status_code == 204
    after = await me_with(portal, second)
    assert after.status_code == 401


async def test_a_cookie_request_that_changes_something_needs_the_csrf_token(
    portal: Portal, penduduk: dict[str, Any]
) -> None:
    assert (await publish(portal, penduduk)).status_code == 201  # type: ignore[arg-type]
    await add_person(portal, "dinsos", "ani@dinsos.go.id", ["requester"])
    csrf = await sign_in(portal, "ani@dinsos.go.id")
    body = {"service": "dukcapil.penduduk.v1", "reason": "verifikasi bansos", **STATEMENT}
    forged = await portal.post("/access-requests", json=body)
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    wrong = await portal.post("/access-requests", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    ok = await portal.post("/access-requests", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    # reading needs no CSRF token
    assert (await portal.get("/access-requests")).status_code == 200


async def test_three_people_walk_the_procedure_and_each_is_recorded(
    portal: Portal, penduduk: dict[str, Any]
) -> None:
    assert (await publish(portal, penduduk)).status_code == 201  # type: ignore[arg-type]
    people = {
        "dinsos": "pemohon@dinsos.go.id",
        "admin": "admin@kominfo.go.id",
        "dukcapil": "penerbit@dukcapil.go.id",
    }
    for party, email in people.items():
        await add_person(portal, party, email, PARTIES[party])
    csrf = await sign_in(portal, people["dinsos"])
    submitted = await portal.post(
        "/access-requests",
        json={"service": "dukcapil.penduduk.v1", "reason": "verifikasi bansos", **STATEMENT},
        headers={"X-CSRF-Token": csrf},
    )
    assert submitted.status_code == 201, submitted.text
    rid = submitted.json()["id"]
    for party, step in (("admin", "approve"), ("dukcapil", "grant")):
        csrf = await sign_in(portal, people[party])
        took = await portal.post(
            f"/access-requests/{rid}/{step}",
            json={"reason": "ok", **(NOTE if step == "approve" else grant_terms())},
            headers={"X-CSRF-Token": csrf},
        )
        assert took.status_code == 200, took.text
    history = (await portal.get(f"/access-requests/{rid}/history")).json()
    assert [(h["step"], h["actor"], h["person"]) for h in history] == [
        ("request", "dinsos", people["dinsos"]),
        ("approve", "admin", people["admin"]),
        ("grant", "dukcapil", people["dukcapil"]),
    ]
    events = {e["kind"]: e for e in (await portal.events())}
    for kind, party in (
        ("access.request", "dinsos"),
        ("access.approve", "admin"),
        ("access.grant", "dukcapil"),
    ):
        assert events[kind]["person"] == people[party], events[kind]
    # a machine's token still works, and names no person
    by_token = await portal.post(
        f"/access-requests/{rid}/suspend", json={"reason": "audit"}, headers=portal.as_("admin")
    )
    assert by_token.status_code == 200
    assert "person" not in {e["kind"]: e for e in (await portal.events())}["access.suspend"]
    validator = audit_event_validator()
    for event in await portal.events():
        assert not list(validator.iter_errors(event)), event


async def test_a_person_holds_only_their_own_roles(
    portal: Portal, penduduk: dict[str, Any]
) -> None:
    """dukcapil is a publisher; a person of it without the role cannot publish."""
    await portal.post(
        "/parties",
        json={"name": "campur", "roles": ["publisher", "requester"]},
        headers=portal.as_("admin"),
    )
    await add_person(portal, "campur", "operator@campur.go.id", ["requester"])
    csrf = await sign_in(portal, "operator@campur.go.id")
    document = {**penduduk, "publisher": "campur"}
    refused = await portal.post("/services", json=document, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403, refused.text
    assert "publisher" in refused.json()["detail"]


async def test_failed_logins_are_slowed_then_locked_and_audited(portal: Portal) -> None:
    """Settings of this fixture: slowed from the 2nd failure, locked at the 4th."""
    await add_person(portal, "dinsos", "coba@dinsos.go.id", ["requester"])
    wrong = {"email": "coba@dinsos.go.id", "password": "bukan kata sandinya"}
    took = []
    for _ in range(4):
        started = asyncio.get_running_loop().time()
        answer = await portal.post("/auth/login", json=wrong)
        took.append(asyncio.get_running_loop().time() - started)
        assert answer.status_code == 401
        assert answer.json()["detail"] == "wrong e-mail address, password or code"
    assert took[-1] >= 0.5, took  # 0.25 s doubled per failure past the 2nd
    locked = await portal.post(
        "/auth/login", json={"email": "coba@dinsos.go.id", "password": PASSWORD}
    )
    assert locked.status_code == 429, "the right password does not open a locked account"
    assert [e["user"] for e in (await portal.events()) if e["kind"] == "admin.login-locked"] == [
        "coba@dinsos.go.id"
    ]
    state = (await portal.get("/users", headers=portal.as_("admin"))).json()[0]["state"]
    assert state == "locked"
    reset = await portal.post(
        "/users/coba@dinsos.go.id/reset-password", headers=portal.as_("admin")
    )
    assert reset.status_code == 200
    await portal.post(
        "/auth/set-password", json={"token": reset.json()["setup_token"], "password": PASSWORD}
    )
    await sign_in(portal, "coba@dinsos.go.id")
    unknown = await portal.post("/auth/login", json={"email": "x@y.id", "password": PASSWORD})
    assert unknown.status_code == 401 and unknown.json()["detail"] == wrong_detail()


def wrong_detail() -> str:
    return "wrong e-mail address, password or code"


async def test_reset_and_disable_end_the_sessions(portal: Portal) -> None:
    await add_person(portal, "dinsos", "dewi@dinsos.go.id", ["requester"])
    await sign_in(portal, "dewi@dinsos.go.id")
    cookie = portal.cookies["splp_session"]
    reset = await portal.post(
        "/users/dewi@dinsos.go.id/reset-password", headers=portal.as_("admin")
    )
    assert reset.json()["user"]["state"] == "pending"
    assert (await me_with(portal, cookie)).status_code == 401
    old = await portal.post(
        "/auth/login", json={"email": "dewi@dinsos.go.id", "password": PASSWORD}
    )
    assert old.status_code == 401, "the old password is forgotten"
    await portal.post(
        "/auth/set-password", json={"token": reset.json()["setup_token"], "password": PASSWORD}
    )
    await sign_in(portal, "dewi@dinsos.go.id")
    cookie = portal.cookies["splp_session"]
    disabled = await portal.post("/users/dewi@dinsos.go.id/disable", headers=portal.as_("admin"))
    assert disabled.json()["state"] == "disabled"
    assert (await me_with(portal, cookie)).status_code == 401
    again = await portal.post(
        "/auth/login", json={"email": "dewi@dinsos.go.id", "password": PASSWORD}
    )
    assert again.status_code == 401
    kinds = [e["kind"] for e in (await portal.events())]
    assert {"admin.user-added", "admin.password-reset", "admin.user-disabled"} <= set(kinds)
    for event in await portal.events():
        assert PASSWORD not in json.dumps(event)
        assert reset.json()["setup_token"] not in json.dumps(event)


async def test_a_second_factor_is_asked_for_once_turned_on(portal: Portal) -> None:
    await add_person(portal, "dinsos", "totp@dinsos.go.id", ["requester"])
    csrf = await sign_in(portal, "totp@dinsos.go.id")
    started = await portal.post("/auth/totp", headers={"X-CSRF-Token": csrf})
    assert started.status_code == 200 and started.json()["uri"].startswith("otpauth://totp/SPLP:")
    secret = started.json()["secret"]
    bad = await portal.post(
        "/auth/totp/confirm", json={"code": "000000"}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status_code == 422 or pyotp.TOTP(secret).verify("000000", valid_window=1)
    code = pyotp.TOTP(secret).now()
    on = await portal.post(
        "/auth/totp/confirm", json={"code": code}, headers={"X-CSRF-Token": csrf}
    )
    assert on.status_code == 200 and on.json()["totp"] is True
    await portal.post("/auth/logout")
    without = await portal.post(
        "/auth/login", json={"email": "totp@dinsos.go.id", "password": PASSWORD}
    )
    assert without.status_code == 401 and "6-digit code" in without.json()["detail"]
    await sign_in(portal, "totp@dinsos.go.id", code=pyotp.TOTP(secret).now())
