"""Pasal 7 walked in a real browser (Debian's Chromium, driven by Playwright): three
different people apply, approve and grant through the portal; a real call on the bus
then succeeds; a revoke from the browser makes the broker refuse the next call.

Every page visited is saved as a screenshot at 1280 and at 360 px wide into
``build/portal-screenshots/`` for review.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from splp.adapters import http_adapter, load_http_config
from splp.adapters.from_directory import from_directory
from splp.bus import Client
from splp.demo.agency import RESIDENTS
from splp.demo.stage import Stage, staged
from splp.errors import AccessDenied
from splp.portal.i18n import WIB
from tests.conftest import BASE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "portal-screenshots"
DEMO = ROOT / "splp" / "demo"
THEME, SERVICE, OPERATION = "kependudukan", "dukcapil.penduduk.v1", "get-by-nik"
PASSWORD = "kata sandi yang cukup panjang"
PEOPLE = {
    "admin": ("admin@kominfo.go.id", ["administrator"]),
    "dukcapil": ("penerbit@dukcapil.go.id", ["publisher"]),
    "dinsos": ("pemohon@dinsos.go.id", ["requester"]),
}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=id-ID",
]


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    async with staged(BASE) as stage:
        await stage.add_party("dukcapil", ["publisher"], "Dinas Kependudukan dan Pencatatan Sipil")
        await stage.add_party("dinsos", ["requester"], "Dinas Sosial")
        await stage.api("admin", "POST", "/themes", {"name": THEME, "title": "Kependudukan"})
        document = yaml.safe_load((DEMO / "penduduk.yaml").read_text(encoding="utf-8"))
        await stage.api("dukcapil", "POST", "/services", document)
        for party, (email, roles) in PEOPLE.items():
            body = {"party": party, "email": email, "name": f"Pegawai {party}", "roles": roles}
            created = await stage.api("admin", "POST", "/users", body)
            await stage.api(
                "admin",
                "POST",
                "/auth/set-password",
                {"token": created["setup_token"], "password": PASSWORD},
            )
        yield stage


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


class Person:
    """One person's browser (a context of its own: its own cookies)."""

    def __init__(self, page: Any, base: str, name: str) -> None:
        self.page = page
        self.base = base
        self.name = name
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    async def shot(self, label: str) -> None:
        """Screenshots of the current page at 1280 and at 360 px wide."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width in (1280, 360):
            await self.page.set_viewport_size({"width": width, "height": 900})
            await self.page.screenshot(
                path=str(SHOTS / f"{self.name}-{label}-{width}.png"), full_page=True
            )
        await self.page.set_viewport_size({"width": 1280, "height": 900})

    async def open(self, path: str, label: str) -> None:
        await self.page.goto(self.base + path)
        await self.shot(label)

    async def sign_in(self, email: str) -> None:
        await self.open("/", "login")
        assert "/masuk" in self.page.url
        await self.page.get_by_label("Alamat e-mail").fill(email)
        await self.page.get_by_label("Kata sandi").fill(PASSWORD)
        await self.page.get_by_role("button", name="Masuk").click()
        await self.page.wait_for_url(self.base + "/")
        await self.shot("home")


async def person(chromium: Any, stage: Stage, name: str) -> Person:
    context = await chromium.new_context(locale="id-ID", timezone_id="Asia/Jakarta")
    return Person(await context.new_page(), stage.directory_url, name)


async def call(stage: Stage) -> dict[str, Any]:
    async with Client(stage.as_party("dinsos"), name="dinsos-app") as client:
        reply: dict[str, Any] = await client.call(
            THEME, SERVICE, OPERATION, {"nik": next(iter(RESIDENTS))}, timeout=10
        )
        return reply


async def test_three_people_walk_pasal_7_in_the_browser(
    stage: Stage, chromium: Any, tmp_path: Path
) -> None:
    config, _ = load_http_config(DEMO / "adapter.yaml")
    config.base_url = stage.agency_url
    descriptor, grants = await from_directory(SERVICE, stage.as_party("dukcapil"))
    adapter = http_adapter(config, descriptor, stage.as_party("dukcapil"), grants=grants)
    await adapter.start()
    try:
        with pytest.raises(AccessDenied):
            await call(stage)

        # the requester applies
        pemohon = await person(chromium, stage, "pemohon")
        await pemohon.sign_in(PEOPLE["dinsos"][0])
        await pemohon.page.get_by_role("link", name="Katalog").first.click()
        await pemohon.shot("catalogue")
        await pemohon.page.get_by_label("Cari layanan").fill("population")
        await pemohon.page.get_by_role("button", name="Cari").click()
        await pemohon.page.get_by_role("link", name="Population register").click()
        await pemohon.shot("service")
        await pemohon.page.get_by_role("link", name="Ajukan akses").click()
        await pemohon.page.get_by_label(OPERATION).check()
        # personal data (UU 27/2022): the legal basis and a contact person are asked for
        await pemohon.page.get_by_label("Dasar hukum").fill("Permensos 3/2021 Pasal 5")
        await pemohon.page.get_by_label("Narahubung").fill("Kabid Linjamsos, 0812 0000 0000")
        wanted = (datetime.now(WIB) + timedelta(days=200)).date().isoformat()
        await pemohon.page.get_by_label("Akses diinginkan sampai").fill(wanted)
        await pemohon.shot("apply")
        await pemohon.page.get_by_label("Tujuan permohonan").fill("   ")  # blank: refused
        await pemohon.page.get_by_role("button", name="Kirim permohonan").click()
        alert = pemohon.page.locator("#galat-reason")
        assert await alert.count() == 1, await pemohon.page.content()
        assert (
            await pemohon.page.get_by_label("Tujuan permohonan").get_attribute("aria-describedby")
            == "galat-reason"
        )
        await pemohon.shot("apply-error")
        await pemohon.page.get_by_label("Tujuan permohonan").fill("Verifikasi penerima bansos")
        letter = tmp_path / "surat-permohonan.pdf"
        letter.write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")
        await pemohon.page.get_by_label("Surat permohonan bertanda tangan").set_input_files(letter)
        await pemohon.page.get_by_role("button", name="Kirim permohonan").click()
        await pemohon.page.wait_for_url("**/permohonan/*")
        number = pemohon.page.url.rsplit("/", 1)[1]
        assert "surat-permohonan.pdf" in await pemohon.page.locator("main").inner_text()
        await pemohon.shot("request-submitted")

        # the administrator approves
        admin = await person(chromium, stage, "admin")
        await admin.sign_in(PEOPLE["admin"][0])
        await admin.page.get_by_role("link", name=f"Permohonan #{number}").click()
        await admin.page.get_by_label("Alasan (disampaikan kepada pemohon)").first.fill(
            "Sesuai tugas"
        )
        await admin.page.get_by_label("Pemeriksaan pelindungan data").fill(
            "Tujuan, dasar hukum dan narahubung diperiksa"
        )
        await admin.shot("request-to-approve")
        await admin.page.get_by_role("button", name="setujui").click()
        await admin.page.wait_for_url(f"**/permohonan/{number}")
        await admin.shot("request-approved")

        # the publisher grants
        penerbit = await person(chromium, stage, "penerbit")
        await penerbit.sign_in(PEOPLE["dukcapil"][0])
        await penerbit.page.get_by_role("link", name=f"Permohonan #{number}").click()
        expiry = penerbit.page.get_by_label("Berlaku sampai (tanggal, WIB)")
        assert await expiry.input_value() == wanted  # pre-filled: the requester's wish
        await penerbit.page.get_by_label("Kuota (panggilan per menit, kosong: tanpa kuota)").fill(
            "60"
        )
        await penerbit.page.get_by_label("Berlaku sampai (tanggal, WIB)").fill("2027-06-30")
        await penerbit.shot("request-to-grant")
        await penerbit.page.get_by_role("button", name="berikan akses").click()
        await penerbit.page.wait_for_url(f"**/permohonan/{number}")
        await penerbit.shot("request-granted")
        timeline = await penerbit.page.locator(".timeline").inner_text()
        for email, _roles in PEOPLE.values():
            assert email in timeline

        # a real call on the bus succeeds
        deadline = time.monotonic() + 15
        while grants.book.find("dinsos", OPERATION) is None:
            assert time.monotonic() < deadline, "the adapter did not learn of the grant"
            await asyncio.sleep(0.1)
        assert (await call(stage))["nik"] == next(iter(RESIDENTS))

        await pemohon.open("/hak-akses", "grants")
        assert SERVICE in await pemohon.page.locator("main").inner_text()
        assert await pemohon.page.get_by_role("columnheader", name="Panggilan dalam").count() == 1

        # the requester registers an application for the HTTP gateway: its secret, once
        await pemohon.open("/aplikasi", "applications")
        await pemohon.page.get_by_label("Nama (huruf kecil").fill("sipd")
        await pemohon.page.get_by_role("button", name="Daftarkan", exact=True).click()
        secret = pemohon.page.get_by_label("Rahasia klien (client secret)")
        assert (await secret.input_value()).startswith("splp_cs_")
        await pemohon.shot("application-registered")

        # a revoke from the browser: the broker refuses the next call
        await admin.open(f"/permohonan/{number}", "request-to-revoke")
        form = admin.page.locator("form", has=admin.page.get_by_role("button", name="cabut"))
        await form.get_by_label("Alasan (disampaikan kepada pemohon)").fill("Program selesai")
        await form.get_by_role("button", name="cabut").click()
        await admin.page.wait_for_url(f"**/permohonan/{number}")
        await admin.shot("request-revoked")
        with pytest.raises(AccessDenied):
            await call(stage)

        # the desks: every page of the administrator, the publisher and the monitor
        for path, label in [
            ("/kotak-masuk", "inbox"),
            ("/pihak", "parties"),
            ("/tema", "themes"),
            ("/penangguhan", "suspended"),
            ("/segera-berakhir", "expiring"),
            ("/broker", "broker"),
            ("/audit", "audit"),
            ("/laporan", "reports"),
        ]:
            await admin.open(path, label)
            assert await admin.page.locator("h1").count() == 1, path
            assert "Bukan untuk peran Anda" not in await admin.page.locator("main").inner_text()
        await admin.open("/broker", "broker")  # the real broker's management API answers
        assert await admin.page.locator("main [role=status]").count() == 1
        await admin.open("/pihak", "parties")
        await admin.page.get_by_label("Pihak", exact=True).select_option("dinsos")
        await admin.page.get_by_label("Nama", exact=True).fill("Siti Aminah")
        await admin.page.get_by_label("Alamat e-mail").fill("siti@dinsos.go.id")
        await admin.page.get_by_label("pemohon", exact=True).check()
        await admin.page.get_by_role("button", name="Tambahkan pengguna").click()
        link = admin.page.get_by_label("Tautan sekali pakai untuk menetapkan kata sandi")
        assert "/auth/set-password?token=" in (await link.input_value())
        await admin.shot("person-added")
        chart = admin.page.locator("figure.chart img")
        await admin.open("/laporan", "reports")
        assert await chart.evaluate("img => img.complete && img.naturalWidth > 0")
        for path, label in [
            ("/menunggu-pemberian", "waiting-grant"),
            ("/penggunaan", "usage"),
            ("/hak-akses-layanan", "grants-per-service"),
        ]:
            await penerbit.open(path, label)
            assert await penerbit.page.locator("h1").count() == 1, path
        await publish_in_the_browser(penerbit)
        await monitor_pages(admin)
        await pemohon.open("/pihak", "not-allowed")
        assert "Bukan untuk peran Anda" in await pemohon.page.locator("h1").inner_text()

        # English on request; signing out ends the session
        await pemohon.open("/?lang=en", "home-en")
        assert "Waiting for you" in await pemohon.page.locator("main").inner_text()
        await pemohon.page.get_by_role("button", name="Sign out").click()
        await pemohon.page.wait_for_url("**/masuk")
        await pemohon.page.goto(stage.directory_url + "/hak-akses")
        assert "/masuk" in pemohon.page.url
        for who in (pemohon, admin, penerbit):  # no CSP violation, no script error
            expected = ("status of 422", "status of 403", "status of 201")  # refused, created
            unexpected = [e for e in who.errors if not any(x in e for x in expected)]
            assert unexpected == [], unexpected
    finally:
        await adapter.stop(grace=5)


async def publish_in_the_browser(penerbit: Person) -> None:
    """The publisher previews a compatible 1.1.0, reads the report, and confirms it."""
    document = yaml.safe_load((DEMO / "penduduk.yaml").read_text(encoding="utf-8"))
    document["version"] = "1.1.0"
    document["operations"]["get-by-nik"]["description"] = "The resident under a NIK."
    await penerbit.open("/layanan-saya/terbit", "publish")
    await penerbit.page.get_by_label("Deskriptor (JSON)").fill("{not json")
    await penerbit.page.get_by_role("button", name="Periksa kompatibilitas").click()
    assert await penerbit.page.locator("#galat-descriptor").count() == 1
    await penerbit.shot("publish-error")
    await penerbit.page.get_by_label("Deskriptor (JSON)").fill(json.dumps(document, indent=2))
    await penerbit.page.get_by_role("button", name="Periksa kompatibilitas").click()
    main = penerbit.page.locator("main")
    assert "Kompatibel dengan versi 1.0.0" in await main.inner_text()
    await penerbit.shot("publish-report")
    await penerbit.page.get_by_role("button", name="Konfirmasi terbitkan").click()
    await penerbit.page.wait_for_url("**/katalog/dukcapil.penduduk.v1")
    assert "1.1.0" in await main.inner_text()
    await penerbit.shot("published")


async def monitor_pages(admin: Person) -> None:
    """The chain's status and the evaluation and supervision reports of this month."""
    month = (datetime.now(UTC) + timedelta(hours=7)).strftime("%Y-%m")
    for path, label in [
        ("/audit/verifikasi", "chain"),
        (f"/laporan/evaluasi?periode={month}", "evaluation"),
        (f"/laporan/pengawasan?periode={month}", "supervision"),
    ]:
        await admin.open(path, label)
        assert await admin.page.locator("h1").count() == 1, path
        assert await admin.page.locator(".error").count() == 0, path
    await admin.open("/audit/verifikasi", "chain")
    assert "Utuh:" in await admin.page.locator("main").inner_text()
    await admin.open(f"/laporan/evaluasi?periode={month}", "evaluation")
    chart = admin.page.locator("figure.chart svg")
    assert await chart.count() == 1
    assert (await chart.bounding_box() or {}).get("width", 0) > 300
    for heading in ("Ketersediaan per layanan", "Pelanggaran tingkat layanan"):
        assert await admin.page.get_by_role("heading", name=heading).count() == 1, heading
    await admin.page.set_viewport_size({"width": 360, "height": 900})
    widths = await admin.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths  # the wide tables scroll inside their .scroll
    await admin.page.set_viewport_size({"width": 1280, "height": 900})
