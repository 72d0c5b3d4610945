"""The portal's security: output escaping (XSS) with hostile titles, descriptions, reasons
and names; CSRF on every form; the route x role matrix with a clear refusal and no data;
the security headers on every page."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from splp.portal.applications import router as applications_router
from splp.portal.desks import router as desks_router
from splp.portal.monitor import router as monitor_router
from splp.portal.pages import router as pages_router
from splp.portal.publish import router as publish_router
from tests.portal.conftest import CSRF, PASSWORD, Browser
from tests.portal.test_desks import walk_to

HOSTILE = '<script>alert(1)</script>"onerror="alert(2)<img src=x onerror=alert(3)>'
RAW = ("<script>alert(1)", "<img src=x onerror", '"onerror="alert(2)')
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def assert_escaped(html: str, where: str) -> None:
    for raw in RAW:
        assert raw not in html, f"{where}: {raw!r} unescaped"
    assert ESCAPED in html, f"{where}: the hostile text is not shown at all"


async def test_hostile_text_is_escaped_on_every_page_that_shows_it(
    browser: Browser, penduduk: dict[str, Any]
) -> None:
    admin = browser.as_("kominfo")
    party = await browser.post(
        "/parties", json={"name": "jahat", "roles": ["requester"], "title": HOSTILE}, headers=admin
    )
    assert party.status_code == 201, party.text
    theme = await browser.post(
        "/themes",
        json={"name": "tema-jahat", "title": HOSTILE, "description": HOSTILE},
        headers=admin,
    )
    assert theme.status_code == 201, theme.text
    document = copy.deepcopy(penduduk)
    document.update(service="jahat", theme="tema-jahat", title=HOSTILE, description=HOSTILE)
    operation = next(iter(document["operations"].values()))
    operation["description"] = HOSTILE
    published = await browser.post("/services", json=document, headers=browser.as_("dukcapil"))
    assert published.status_code == 201, published.text
    person = await browser.post(
        "/users",
        json={
            "party": "jahat",
            "email": "jahat@jahat.go.id",
            "name": HOSTILE,
            "roles": ["requester"],
        },
        headers=admin,
    )
    assert person.status_code == 201, person.text
    chosen = await browser.post(
        "/auth/set-password", json={"token": person.json()["setup_token"], "password": PASSWORD}
    )
    assert chosen.status_code == 204
    made = await browser.post(
        "/access-requests",
        json={
            "service": "dukcapil.jahat.v1",
            "reason": HOSTILE,
            "purpose": HOSTILE,
            "legal_basis": HOSTILE,
            "contact": HOSTILE[:200],
        },
        headers=party_auth(party.json()),
    )
    assert made.status_code == 201, made.text
    number = made.json()["id"]
    rejected = await browser.post(
        f"/access-requests/{number}/reject", json={"reason": HOSTILE}, headers=admin
    )
    assert rejected.status_code == 200, rejected.text

    browser.cookies.clear()
    login = await browser.get("/masuk")
    token = CSRF.search(login.text)
    assert token
    signed = await browser.post(
        "/masuk",
        data={
            "csrf": token.group(1),
            "email": "jahat@jahat.go.id",
            "password": PASSWORD,
            "lanjut": "/",
        },
    )
    assert signed.status_code == 303
    for path in (
        "/",
        "/katalog",
        "/katalog?tema=tema-jahat",
        "/katalog/dukcapil.jahat.v1",
        f"/permohonan/{number}",
    ):
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text, path)
    form = await browser.post(
        "/permohonan/baru",
        data={"csrf": await browser.csrf("/permohonan/baru"), "service": "x", "reason": HOSTILE},
    )
    assert_escaped(form.text, "the application form sent back")

    await browser.sign_in("kominfo")
    for path in ("/pihak", "/tema", "/katalog", f"/permohonan/{number}"):
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text, path)
    sent = await browser.post(
        "/pihak/orang",
        data={
            "csrf": await browser.csrf("/pihak"),
            "party": "dinsos",
            "email": "x",
            "name": HOSTILE,
        },
    )
    assert_escaped(sent.text, "the add-person form sent back")


def party_auth(created: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {created['token']}"}


# -- CSRF ------------------------------------------------------------------------------------


async def state_of(browser: Browser) -> Any:
    """Requests, people (but when they last signed in), themes and parties."""
    admin = browser.as_("kominfo")
    found = [
        (await browser.get(path, headers=admin)).json()
        for path in ("/access-requests", "/users", "/themes", "/parties", "/parties/dinsos/clients")
    ]
    for person in found[1]:
        person.pop("last_login_at")
    return found


@pytest.mark.parametrize("token", ["", "forged", "other-session"])
async def test_every_portal_post_without_its_csrf_token_changes_nothing(
    browser: Browser, token: str
) -> None:
    submitted = await walk_to(browser, "submitted")
    client_id = await an_application(browser)
    await browser.sign_in("dukcapil")
    other = await browser.csrf("/")  # a token of another person's session
    sent = {"": None, "forged": "x" * 43, "other-session": other}[token]
    forms: list[tuple[str, str, dict[str, str]]] = [
        ("dinsos", "/permohonan/baru", {"service": "dukcapil.penduduk.v1", "reason": "x"}),
        ("kominfo", f"/permohonan/{submitted}/approve", {"reason": "ok"}),
        ("kominfo", f"/permohonan/{submitted}/reject", {"reason": "no"}),
        (
            "kominfo",
            "/pihak/orang",
            {"party": "dinsos", "email": "a@b.go.id", "name": "A", "roles": "requester"},
        ),
        ("kominfo", "/tema", {"name": "baru", "title": "Baru"}),
        ("dinsos", "/aplikasi", {"name": "sipd"}),
        ("dinsos", f"/aplikasi/{client_id}/rahasia-baru", {}),
        ("dinsos", f"/aplikasi/{client_id}/cabut", {}),
        ("dukcapil", "/layanan-saya/terbit", {"descriptor": "{}"}),
        ("dukcapil", "/layanan-saya/terbit/konfirmasi", {"descriptor": "{}", "sha256": "0" * 64}),
        ("kominfo", "/keluar", {}),
    ]
    before = await state_of(browser)
    for party, path, data in forms:
        await browser.sign_in(party)
        body = {**data, "csrf": sent} if sent is not None else data
        answer = await browser.post(path, data=body)
        assert answer.status_code == 403, (path, answer.status_code)
        assert "text/html" in answer.headers["content-type"]
        still = await browser.get("/")
        assert still.status_code == 200, f"{path}: the session ended"
    assert await state_of(browser) == before


async def an_application(browser: Browser) -> str:
    """A new application of dinsos, registered through the API; its client id."""
    made = await browser.post(
        "/parties/dinsos/clients", json={"name": "lama"}, headers=browser.as_("dinsos")
    )
    assert made.status_code == 201, made.text
    client_id: str = made.json()["client_id"]
    return client_id


# -- authorization: route x role -----------------------------------------------------------

ROLES = (
    "kominfo",
    "dukcapil",
    "dinsos",
    "inspektorat",
    None,
)  # admin, publisher, requester, monitor
OK, NO = 200, 403
PAGES: dict[str, tuple[int, int, int, int]] = {
    #                         admin publisher requester monitor
    "/": (OK, OK, OK, OK),
    "/katalog": (OK, OK, OK, OK),
    "/katalog/{ref}": (OK, OK, OK, OK),
    "/permohonan": (OK, OK, OK, OK),
    "/permohonan/{id}": (OK, OK, OK, OK),
    "/permohonan/baru": (NO, NO, OK, NO),
    "/hak-akses": (NO, NO, OK, NO),
    "/aplikasi": (NO, NO, OK, NO),
    "/kotak-masuk": (OK, NO, NO, NO),
    "/pihak": (OK, NO, NO, NO),
    "/tema": (OK, NO, NO, NO),
    "/penangguhan": (OK, NO, NO, NO),
    "/segera-berakhir": (OK, NO, NO, NO),
    "/broker": (OK, NO, NO, OK),
    "/menunggu-pemberian": (NO, OK, NO, NO),
    "/penggunaan": (NO, OK, NO, NO),
    "/hak-akses-layanan": (NO, OK, NO, NO),
    "/audit": (OK, NO, NO, OK),
    "/laporan": (OK, NO, NO, OK),
    "/layanan-saya/terbit": (NO, OK, NO, NO),
    "/audit/verifikasi": (OK, NO, NO, OK),
    "/laporan/evaluasi": (OK, NO, NO, OK),
    "/laporan/pengawasan": (OK, NO, NO, OK),
}
POSTS = {
    "/masuk",
    "/keluar",
    "/permohonan/baru",
    "/permohonan/{request_id}/{step}",
    "/pihak/orang",
    "/tema",
    "/aplikasi",
    "/aplikasi/{client_id}/rahasia-baru",
    "/aplikasi/{client_id}/cabut",
    "/layanan-saya/terbit",
    "/layanan-saya/terbit/konfirmasi",
}
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def test_the_matrix_covers_every_portal_route() -> None:
    routes = {
        (method, re.sub(r":int}", "}", route.path))
        for router in (
            pages_router,
            desks_router,
            applications_router,
            publish_router,
            monitor_router,
        )
        for route in router.routes
        for method in getattr(route, "methods", ())
    }
    pages = {("GET", path.replace("{id}", "{request_id}")) for path in PAGES} | {("GET", "/masuk")}
    assert routes == pages | {("POST", path) for path in POSTS}


def assert_secure_headers(headers: Any, where: str) -> None:
    csp = headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "script-src 'self'" in csp and "default-src 'none'" in csp, where
    assert "frame-ancestors 'none'" in csp, where
    for name, value in HEADERS.items():
        assert headers[name] == value, (where, name)


async def test_every_page_for_every_role(browser: Browser) -> None:
    number = await walk_to(browser, "granted")
    got: dict[str, tuple[int, ...]] = {}
    for party in ROLES:
        if party is None:
            browser.cookies.clear()
        else:
            await browser.sign_in(party)
        for template in PAGES:
            path = template.format(id=number, ref="dukcapil.penduduk.v1")
            answer = await browser.get(path)
            got.setdefault(template, ())
            got[template] += (answer.status_code,)
            if party is None:
                assert answer.status_code == 303, path
                assert answer.headers["location"].startswith("/masuk?lanjut=/"), path
                continue
            assert "text/html" in answer.headers["content-type"], path
            assert_secure_headers(answer.headers, path)
            if answer.status_code == 403:
                main = answer.text.split('<main id="isi">', 1)[1]
                assert "<h1>Bukan untuk peran Anda</h1>" in main, path
                assert "Halaman ini untuk:" in main and "<table" not in main, path
                assert "dukcapil.penduduk.v1" not in main and "/permohonan/" not in main, path
    assert got == {path: (*cells, 303) for path, cells in PAGES.items()}
    login = await browser.get("/masuk")
    assert_secure_headers(login.headers, "/masuk")
