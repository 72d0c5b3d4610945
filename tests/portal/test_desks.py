"""The desks of the administrator, the publisher and the monitor, through a browser-like
client: each page's data, its forms (with errors beside the fields), and its paging."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from splp.audit.store import AuditStore
from splp.bus.audit_events import audit_event
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.portal.conftest import CSRF, Browser


async def walk_to(browser: Browser, state: str, expires: str | None = None) -> int:
    """A request of dinsos for dukcapil.penduduk.v1 taken to ``state`` through the API."""
    made = await browser.post(
        "/access-requests",
        json={"service": "dukcapil.penduduk.v1", "reason": "Verifikasi bansos", **STATEMENT},
        headers=browser.as_("dinsos"),
    )
    assert made.status_code == 201, made.text
    number: int = made.json()["id"]
    steps = {
        "submitted": [],
        "approved": [("approve", "kominfo")],
        "granted": [("approve", "kominfo"), ("grant", "dukcapil")],
        "suspended": [("approve", "kominfo"), ("grant", "dukcapil"), ("suspend", "kominfo")],
    }[state]
    for step, party in steps:
        body: dict[str, Any] = {"reason": "ok"}
        if step == "approve":
            body |= NOTE
        if step == "grant":
            body |= grant_terms()
            if expires:
                body["expires_at"] = expires
        done = await browser.post(
            f"/access-requests/{number}/{step}", json=body, headers=browser.as_(party)
        )
        assert done.status_code == 200, done.text
    return number


async def test_the_administrators_inbox_and_lists(browser: Browser) -> None:
    submitted = await walk_to(browser, "submitted")
    suspended = await walk_to(browser, "suspended")
    soon = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    expiring = await walk_to(browser, "granted", expires=soon)
    lasting = await walk_to(browser, "granted", expires=later)
    await browser.sign_in("kominfo")
    inbox = await browser.get("/kotak-masuk")
    assert inbox.status_code == 200
    assert "<title>Kotak masuk - Aplikasi SPLP</title>" in inbox.text
    assert f'href="/permohonan/{submitted}"' in inbox.text
    assert f'href="/permohonan/{suspended}"' not in inbox.text
    assert 'aria-current="page">Kotak masuk</span>' in inbox.text  # breadcrumb
    listed = await browser.get("/penangguhan")
    assert f'href="/permohonan/{suspended}"' in listed.text
    assert f'href="/permohonan/{submitted}"' not in listed.text
    ending = await browser.get("/segera-berakhir")
    assert f'href="/permohonan/{expiring}"' in ending.text
    assert f'href="/permohonan/{lasting}"' not in ending.text
    assert " WIB" in ending.text


async def test_the_administrator_adds_a_person_and_sees_the_link_once(browser: Browser) -> None:
    await browser.sign_in("kominfo")
    page = await browser.get("/pihak")
    assert page.status_code == 200
    assert "Pegawai dinsos" in page.text and "pemohon@dinsos.go.id" in page.text
    token = CSRF.search(page.text)
    assert token
    form = {"csrf": token.group(1), "party": "dinsos", "name": "Siti", "roles": "requester"}
    bad = await browser.post("/pihak/orang", data={**form, "email": "not-an-address"})
    assert bad.status_code == 422
    assert 'id="galat-email"' in bad.text and 'aria-describedby="galat-email"' in bad.text
    assert 'value="Siti"' in bad.text  # what was typed is kept
    made = await browser.post("/pihak/orang", data={**form, "email": "siti@dinsos.go.id"})
    assert made.status_code == 201, made.text
    link = re.search(r'id="tautan" readonly rows="3">([^<]+)</textarea>', made.text)
    assert link and link.group(1).startswith("https://portal/auth/set-password?token=")
    again = await browser.get("/pihak")
    assert "siti@dinsos.go.id" in again.text and link.group(1) not in again.text
    chosen = await browser.post(
        "/auth/set-password",
        json={
            "token": link.group(1).split("token=", 1)[1].replace("%3D", "="),
            "password": "sandi baru yang cukup panjang",
        },
    )
    assert chosen.status_code == 204, chosen.text


async def test_the_administrator_adds_a_theme(browser: Browser) -> None:
    await browser.sign_in("kominfo")
    token = await browser.csrf("/tema")
    bad = await browser.post("/tema", data={"csrf": token, "name": "Bad Name!", "title": "x"})
    assert bad.status_code == 422 and 'id="galat-name"' in bad.text
    made = await browser.post(
        "/tema", data={"csrf": token, "name": "kesehatan", "title": "Kesehatan", "description": ""}
    )
    assert made.status_code == 303
    listed = await browser.get("/tema")
    assert "<code>kesehatan</code>" in listed.text and "Kesehatan" in listed.text


async def test_the_broker_page_says_when_the_broker_cannot_be_read(browser: Browser) -> None:
    await browser.sign_in("kominfo")
    page = await browser.get("/broker")  # this suite has no management API
    assert page.status_code == 200
    assert "Status broker tidak dapat dibaca saat ini." in page.text


async def test_the_publishers_pages(browser: Browser) -> None:
    approved = await walk_to(browser, "approved")
    granted = await walk_to(browser, "granted")
    await browser.sign_in("dukcapil")
    waiting = await browser.get("/menunggu-pemberian")
    assert waiting.status_code == 200
    assert f'href="/permohonan/{approved}"' in waiting.text
    assert f'href="/permohonan/{granted}"' not in waiting.text
    per_service = await browser.get("/hak-akses-layanan")
    assert "<code>dukcapil.penduduk.v1</code>" in per_service.text
    assert f'href="/permohonan/{granted}"' in per_service.text
    assert f'href="/permohonan/{approved}"' not in per_service.text
    store = await audit_store(browser)
    await store.append(
        [(call("dukcapil"), None), (call("dukcapil"), None), (call("bapenda"), None)]
    )
    usage = await browser.get("/penggunaan")
    assert usage.status_code == 200
    assert "dukcapil.penduduk.v1" in usage.text and "bapenda" not in usage.text
    assert '<td class="num">2</td>' in usage.text  # two calls


def call(publisher: str, n: int = 0, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "theme": "kependudukan",
        "publisher": publisher,
        "service": "penduduk",
        "major": 1,
        "operation": "get-by-nik",
        "requester": "dinsos",
        "request_bytes": 30,
        "status": 200,
        "duration_ms": 3.5,
        "response_bytes": 120,
    }
    values.update(fields)
    kind = {403: "denied", 429: "throttled"}.get(values["status"], "response")
    return audit_event(kind, f"adapter:{publisher}.penduduk.v1", **values)


async def audit_store(browser: Browser) -> AuditStore:
    """The app's audit store (the directory's database), opened by a first read."""
    opened = await browser.get("/audit/events", headers=browser.as_("kominfo"))
    assert opened.status_code == 200, opened.text
    store: AuditStore = browser.app.state.audit_store
    return store


async def test_the_monitors_audit_log_with_filters_and_paging(browser: Browser) -> None:
    store = await audit_store(browser)
    await store.append([(call("dukcapil", requester="dinsos"), None) for _ in range(60)])
    await store.append([(call("dukcapil", requester="dinkes", status=403), None) for _ in range(3)])
    await browser.sign_in("inspektorat")
    latest = await browser.get("/audit")
    assert latest.status_code == 200
    assert latest.text.count("<tr><td>") == 50  # the newest page
    assert "<td>dinkes</td>" in latest.text
    first = await browser.get("/audit?after=0")
    assert first.text.count("<tr><td>") == 50 and "<td>dinkes</td>" not in first.text
    following = re.search(r'href="/audit\?([^"]*after=(\d+))" rel="next"', first.text)
    assert following, first.text
    second = await browser.get("/audit?" + following.group(1).replace("&amp;", "&"))
    assert second.text.count("<tr><td>") == 13 and 'rel="next"' not in second.text
    filtered = await browser.get("/audit?requester=dinkes&status=403")
    assert filtered.text.count("<tr><td>") == 3
    assert 'value="dinkes"' in filtered.text
    bad = await browser.get("/audit?status=abc")
    assert bad.status_code == 422 and 'id="galat-status"' in bad.text


async def test_the_monitors_reports_with_a_chart(browser: Browser) -> None:
    store = await audit_store(browser)
    await store.append([(call("dukcapil"), None) for _ in range(4)])
    await store.append([(call("dukcapil", requester="dinkes", status=429), None)])
    await browser.sign_in("inspektorat")
    page = await browser.get("/laporan")
    assert page.status_code == 200
    chart = re.search(r'<img src="([^"]+)" alt="([^"]+)"', page.text)
    assert chart and chart.group(1) == "/audit/reports/usage.svg?lang=id" and chart.group(2)
    svg = await browser.get(chart.group(1))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "Panggilan dan galat per hari" in svg.text and "calls per day" not in svg.text
    english = await browser.get("/laporan?lang=en")
    assert '<img src="/audit/reports/usage.svg" alt=' in english.text
    assert "<td>dinkes</td><td>1</td>" in page.text  # the abuse table
    bad = await browser.get("/laporan?sejak=2026-02-30")
    assert bad.status_code == 422 and 'role="alert"' in bad.text
