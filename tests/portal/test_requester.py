"""The requester's side of the portal: the expiry wanted in the application form (checked,
shown to the administrator and pre-filled for the publisher), the grants with their quota
and usage, and the applications with their gateway credentials."""

from __future__ import annotations

import copy
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from markupsafe import escape
from sqlalchemy import select

from splp.directory_service.models import Application
from splp.portal.i18n import WIB
from tests.data_protection import STATEMENT, grant_terms
from tests.portal.conftest import Browser
from tests.portal.test_desks import audit_store, call, walk_to

FORM = {
    "service": "dukcapil.penduduk.v1",
    "reason": "Verifikasi bansos",
    "legal_basis": STATEMENT["legal_basis"],
    "contact": STATEMENT["contact"],
}


def wib_day(days: int) -> str:
    """The WIB date ``days`` from today."""
    return (datetime.now(WIB) + timedelta(days=days)).date().isoformat()


async def test_the_expiry_wanted_is_checked_beside_its_field(browser: Browser) -> None:
    await browser.sign_in("dinsos")
    page = await browser.get("/permohonan/baru?layanan=dukcapil.penduduk.v1")
    assert '<label for="expires_wanted">Akses diinginkan sampai' in page.text
    assert 'name="expires_wanted" type="date"' in page.text and "365 hari" in page.text
    csrf = await browser.csrf("/permohonan/baru")
    refusals = {
        "2027-13-45": "Tulis tanggal sebagai TTTT-BB-HH.",
        "besok": "Tulis tanggal sebagai TTTT-BB-HH.",
        '"><script>alert(1)</script>': "Tulis tanggal sebagai TTTT-BB-HH.",
        wib_day(-1): "Tanggal ini sudah lewat",
        wib_day(400): "paling lama 365 hari",
    }
    for value, message in refusals.items():
        sent = await browser.post(
            "/permohonan/baru", data={**FORM, "csrf": csrf, "expires_wanted": value}
        )
        assert sent.status_code == 422, (value, sent.text)
        error = re.search(
            r'<p class="error" id="galat-expires_wanted" role="alert">([^<]*)', sent.text
        )
        assert error and message in error.group(1), (value, sent.text)
        assert 'aria-invalid="true"' in sent.text and "<script>alert(1)" not in sent.text
        assert f'value="{escape(value)}"' in sent.text
    assert (await browser.get("/access-requests", headers=browser.as_("kominfo"))).json() == []
    wanted = wib_day(200)
    sent = await browser.post(
        "/permohonan/baru", data={**FORM, "csrf": csrf, "expires_wanted": wanted}
    )
    assert sent.status_code == 303, sent.text
    number = int(sent.headers["location"].rsplit("/", 1)[1])
    stored = (
        await browser.get(f"/access-requests/{number}", headers=browser.as_("kominfo"))
    ).json()
    moment = datetime.fromisoformat(stored["expires_wanted"])
    assert moment.astimezone(WIB).date().isoformat() == wanted
    assert (moment.astimezone(WIB).hour, moment.astimezone(WIB).minute) == (23, 59)
    shown = f"{int(wanted[8:])} "  # the day of the month, as the WIB date is written
    page = await browser.get(f"/permohonan/{number}")
    assert "<dt>Akses diinginkan sampai</dt>" in page.text and "23.59 WIB" in page.text

    await browser.sign_in("kominfo")
    inbox = await browser.get("/kotak-masuk")
    assert '<th scope="col">Akses diinginkan sampai</th>' in inbox.text
    row = re.search(rf'href="/permohonan/{number}".*?</tr>', inbox.text, re.S)
    assert row and "23.59 WIB" in row.group(0) and shown in row.group(0)
    approved = await browser.post(
        f"/access-requests/{number}/approve",
        json={"reason": "ok", "data_protection_note": "diperiksa"},
        headers=browser.as_("kominfo"),
    )
    assert approved.status_code == 200, approved.text

    await browser.sign_in("dukcapil")
    step = await browser.get(f"/permohonan/{number}")
    assert f'name="expires_on" type="date" value="{wanted}"' in step.text
    assert "tanggal yang diinginkan pemohon" in step.text
    csrf = await browser.csrf(f"/permohonan/{number}")
    decided = wib_day(90)  # the publisher decides: a shorter grant
    granted = await browser.post(
        f"/permohonan/{number}/grant",
        data={"csrf": csrf, "quota_per_minute": "60", "expires_on": decided},
    )
    assert granted.status_code == 303, granted.text
    grant = (
        await browser.get(f"/access-requests/{number}", headers=browser.as_("dukcapil"))
    ).json()
    assert datetime.fromisoformat(grant["expires_at"]).astimezone(WIB).date().isoformat() == decided
    assert grant["expires_wanted"] == stored["expires_wanted"]


async def test_the_api_checks_the_expiry_wanted(browser: Browser, penduduk: dict[str, Any]) -> None:
    body = {"service": "dukcapil.penduduk.v1", "reason": "bansos", **STATEMENT}
    now = datetime.now(UTC)
    for wanted, message in (
        ((now - timedelta(minutes=1)).isoformat(), "must be in the future"),
        ((now + timedelta(days=366)).isoformat(), "at most 365 days"),
        ("2027-02-30", None),  # not a date: the schema refuses it
    ):
        refused = await browser.post(
            "/access-requests",
            json={**body, "expires_wanted": wanted},
            headers=browser.as_("dinsos"),
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        errors = refused.json()["errors"]
        assert errors[0]["pointer"] == "body/expires_wanted", errors
        if message:
            assert message in errors[0]["message"] and message in refused.json()["detail"]
    # an internal service: no limit but the future
    internal = copy.deepcopy(penduduk)
    internal |= {"service": "jadwal", "classification": "internal", "subject_field": None}
    internal.pop("data_management")
    for operation in internal["operations"].values():
        for prop in operation["response"]["properties"].values():
            prop.pop("x-splp-personal", None)
    published = await browser.post("/services", json=internal, headers=browser.as_("dukcapil"))
    assert published.status_code == 201, published.text
    far = (now + timedelta(days=800)).isoformat()
    made = await browser.post(
        "/access-requests",
        json={"service": "dukcapil.jadwal.v1", "reason": "x", "expires_wanted": far},
        headers=browser.as_("dinsos"),
    )
    assert made.status_code == 201, made.text
    assert datetime.fromisoformat(made.json()["expires_wanted"]) == datetime.fromisoformat(far)
    plain = await browser.post(
        "/access-requests",
        json={"service": "dukcapil.jadwal.v1", "reason": "x"},
        headers=browser.as_("dinsos"),
    )
    assert plain.status_code == 201 and plain.json()["expires_wanted"] is None


async def test_my_grants_show_quota_and_usage(browser: Browser) -> None:
    number = await walk_to(browser, "granted")
    store = await audit_store(browser)
    old = call("dukcapil")
    old["time"] = (datetime.now(UTC) - timedelta(days=40)).isoformat().replace("+00:00", "Z")
    await store.append(
        [
            (call("dukcapil"), None),
            (call("dukcapil"), None),
            (call("dukcapil", status=500), None),
            (call("dukcapil", status=403), None),
            (call("dukcapil", status=429), None),
            (call("dukcapil", status=429), None),
            (call("dukcapil", requester="bapenda"), None),  # another requester's
            (old, None),  # before the last 30 days
        ]
    )
    answer = await browser.get("/me/calls", headers=browser.as_("dinsos"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["by_service"] == [
        {"service": "dukcapil.penduduk.v1", "calls": 6, "errors": 1, "denied": 1, "throttled": 2}
    ]
    week = await browser.get("/me/calls?days=0", headers=browser.as_("dinsos"))
    assert week.status_code == 422
    await browser.sign_in("dinsos")
    page = await browser.get("/hak-akses")
    assert page.status_code == 200
    assert "Panggilan dalam 30 hari terakhir" in page.text
    row = re.search(rf'<tr><td><a href="/permohonan/{number}">.*?</tr>', page.text, re.S)
    assert row, page.text
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    quota = grant_terms()["quota_per_minute"]
    assert cells[1:4:2] == ["dukcapil.penduduk.v1", f"{quota} panggilan per menit"], cells
    assert cells[5:] == ["6", "1 / 2"], cells


async def test_my_applications_and_their_credentials(browser: Browser) -> None:
    await browser.sign_in("dinsos")
    empty = await browser.get("/aplikasi")
    assert empty.status_code == 200
    assert "<title>Aplikasi saya - Aplikasi SPLP</title>" in empty.text
    assert '<span aria-current="page">Aplikasi saya</span>' in empty.text  # breadcrumbs
    assert 'href="/aplikasi" aria-current="page"' in empty.text  # the menu
    assert "/oauth2/token" in empty.text
    csrf = await browser.csrf("/aplikasi")
    nameless = await browser.post("/aplikasi", data={"csrf": csrf, "name": ""})
    assert nameless.status_code == 422 and 'id="galat-name"' in nameless.text
    bad = await browser.post("/aplikasi", data={"csrf": csrf, "name": "Nama <Jahat>"})
    assert bad.status_code == 422 and 'id="galat-name"' in bad.text
    assert "<Jahat>" not in bad.text
    forged = await browser.post("/aplikasi", data={"name": "sipd"})
    assert forged.status_code == 403
    made = await browser.post("/aplikasi", data={"csrf": csrf, "name": "sipd", "api_key": "1"})
    assert made.status_code == 201, made.text
    secret = re.search(
        r'<textarea id="client-secret" readonly rows="2">([^<]+)</textarea>', made.text
    )
    key = re.search(r'<textarea id="api-key" readonly rows="2">([^<]+)</textarea>', made.text)
    assert secret and secret.group(1).startswith("splp_cs_"), made.text
    assert key and key.group(1).startswith("splp_ak_")
    assert "hanya ditampilkan sekali ini" in made.text
    listed = (await browser.get("/parties/dinsos/clients", headers=browser.as_("dinsos"))).json()
    client_id = listed[0]["client_id"]
    again = await browser.get("/aplikasi")
    assert client_id in again.text and "sipd" in again.text
    assert secret.group(1) not in again.text and key.group(1) not in again.text
    assert "secret_hash" not in again.text and "hash" not in again.text.lower()
    assert '<td class="nowrap">belum pernah</td>' in again.text  # never rotated
    rotated = await browser.post(f"/aplikasi/{client_id}/rahasia-baru", data={"csrf": csrf})
    assert rotated.status_code == 200, rotated.text
    assert (
        "Rahasia baru untuk sipd" in rotated.text and "hanya ditampilkan sekali ini" in rotated.text
    )
    fresh = re.search(
        r'<textarea id="client-secret" readonly rows="2">([^<]+)</textarea>', rotated.text
    )
    assert fresh and fresh.group(1).startswith("splp_cs_") and fresh.group(1) != secret.group(1)
    assert 'id="api-key"' not in rotated.text  # the API key is not changed
    async with browser.app.state.store.session() as session:
        stored = (await session.scalars(select(Application))).one()
    assert stored.secret_hash == hashlib.sha256(fresh.group(1).encode()).hexdigest()
    later = await browser.get("/aplikasi")
    assert fresh.group(1) not in later.text and "belum pernah" not in later.text
    twice = await browser.post("/aplikasi", data={"csrf": csrf, "name": "sipd"})
    assert twice.status_code == 409 and 'id="galat-name"' in twice.text
    revoked = await browser.post(f"/aplikasi/{client_id}/cabut", data={"csrf": csrf})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/aplikasi"
    after = await browser.get("/aplikasi")
    row = re.search(rf"<code>{re.escape(client_id)}</code>.*?</tr>", after.text, re.S)
    assert row and "dicabut pada" in row.group(0) and "<form" not in row.group(0)
    unknown = await browser.post("/aplikasi/splp-app-nope/cabut", data={"csrf": csrf})
    assert unknown.status_code == 404 and 'role="alert"' in unknown.text


async def test_applications_are_for_requesters_only(browser: Browser) -> None:
    made = await browser.post(
        "/parties/dinsos/clients", json={"name": "lama"}, headers=browser.as_("dinsos")
    )
    client_id = made.json()["client_id"]
    for party in ("kominfo", "dukcapil", "inspektorat"):
        await browser.sign_in(party)
        csrf = await browser.csrf("/")
        page = await browser.get("/")
        assert 'href="/aplikasi"' not in page.text, party
        for path, data in (
            ("/aplikasi", {"name": "x"}),
            (f"/aplikasi/{client_id}/rahasia-baru", {}),
            (f"/aplikasi/{client_id}/cabut", {}),
        ):
            refused = await browser.post(path, data={**data, "csrf": csrf})
            assert refused.status_code == 403, (party, path)
            assert "Bukan untuk peran Anda" in refused.text
    listed = (await browser.get("/parties/dinsos/clients", headers=browser.as_("dinsos"))).json()
    assert [(a["name"], a["revoked_at"]) for a in listed] == [("lama", None)]
