"""The monitor's views: the chain's verification status (its anchor's signature, a record
edited in the database named), and the evaluation and supervision reports of a period,
with the period's errors beside its field."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from splp.audit.anchors import Anchoring
from splp.audit.keys import SigningKey
from tests.portal.conftest import Browser
from tests.portal.test_desks import audit_store, call, walk_to


async def test_the_chain_status_with_its_anchor(browser: Browser) -> None:
    store = await audit_store(browser)
    key = SigningKey.generate()
    await store.append([(call("dukcapil"), None) for _ in range(5)])
    await Anchoring(store, key, every=1).after(5)
    await store.append([(call("dukcapil"), None) for _ in range(3)])
    head, _digest = await store.head()
    await browser.sign_in("inspektorat")
    page = await browser.get("/audit/verifikasi")
    assert page.status_code == 200
    assert "<title>Verifikasi rantai - Aplikasi SPLP</title>" in page.text
    assert '<a href="/audit">Log audit</a>' in page.text  # breadcrumbs
    assert "Utuh: tidak ada catatan yang diubah" in page.text
    assert f"<dd>{head}</dd>" in page.text and f"<code>{key.key_id}</code>" in page.text
    assert "sah terhadap kunci publik jangkar" in page.text
    assert f"3 catatan diperiksa, seq {head - 2} sampai {head}." in page.text
    assert "splp audit verify --file audit-2026-11.json --key audit-public.pem" in page.text
    async with store.engine.begin() as connection:
        await connection.execute(
            text(f"UPDATE audit_records SET requester = 'dinkes' WHERE seq = {head - 1}")
        )
    broken = await browser.get("/audit/verifikasi")
    assert "Rusak: rantai tidak lolos verifikasi." in broken.text
    assert f"Catatan rusak pertama: {head - 1}." in broken.text
    bad = await browser.get("/audit/verifikasi?batas=lots")
    assert bad.status_code == 422 and 'id="galat-batas"' in bad.text
    assert 'value="lots"' in bad.text
    log = await browser.get("/audit")
    assert 'href="/audit/verifikasi"' in log.text


async def test_the_evaluation_report_of_a_period(browser: Browser) -> None:
    granted = await walk_to(browser, "granted")
    store = await audit_store(browser)
    await store.append([(call("dukcapil"), None) for _ in range(4)])
    await store.append([(call("dukcapil", status=404), None)])
    await store.append([(call("dukcapil", status=503, requester="dinkes"), None)])
    month = (datetime.now(UTC) + timedelta(hours=7)).strftime("%Y-%m")
    await browser.sign_in("inspektorat")
    form = await browser.get("/laporan/evaluasi")
    assert form.status_code == 200 and f'value="{month}"' in form.text
    assert "<title>Laporan evaluasi - Aplikasi SPLP</title>" in form.text
    assert '<label for="periode">Periode (2026, 2026-S2 atau 2026-11)</label>' in form.text
    for wrong, words in (
        ("2026-7", "Isi periode sebagai tahun"),
        ("2026-13", "Bulan itu tidak ada"),
    ):
        bad = await browser.get(f"/laporan/evaluasi?periode={wrong}")
        assert bad.status_code == 422, wrong
        assert 'id="galat-periode"' in bad.text and words in bad.text, wrong
    page = await browser.get(f"/laporan/evaluasi?periode={month}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Selama " in html  # the narrative in Bahasa Indonesia
    assert f'href="/audit/reports/evaluasi?period={month}&amp;format=pdf"' in html
    assert f'href="/audit/reports/evaluasi?period={month}&amp;format=xlsx"' in html
    chart = html.split('<figure class="chart">', 1)[1].split("</figure>", 1)[0]
    assert chart.count("<title>") == calendar.monthrange(*map(int, month.split("-")))[1]
    assert "Panggilan dan galat per hari — semua layanan" in chart
    assert "6 panggilan, 2 galat" in chart and "(WIB)" in chart  # a 404 and a 503
    totals = html.split("<h2>Jumlah</h2>", 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">Panggilan</th><td class="num">6</td>' in totals
    assert '<td class="num">1 (16,7%)</td>' in totals  # one publisher failure of six
    per_service = html.split("<h2>Per layanan</h2>", 1)[1].split("</table>", 1)[0]
    assert "<td>dukcapil.penduduk.v1</td>" in per_service
    cross = html.split("Perangkat daerah mana memakai layanan mana", 1)[1].split("</table>")[0]
    assert '<th scope="col">dinkes</th>' in cross and '<th scope="col">dinsos</th>' in cross
    assert "Prosedur akses (Pasal 7)" in html
    assert "Ketersediaan layanan" in html  # a section the page does not know, shown as it is
    assert "belum ada data probe kesehatan" in html
    assert granted
    pdf = await browser.get(f"/audit/reports/evaluasi?period={month}&format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_the_supervision_report_with_hits_and_follow_ups(browser: Browser) -> None:
    from splp.directory_service.supervision import HitIn, raise_hit

    app = browser.app
    until = datetime.now(UTC)
    async with app.state.store.sessions() as session:
        raised = await raise_hit(
            session,
            app.state.events,
            HitIn("hit-1", "not_found_ratio", "dinsos", until - timedelta(hours=1), until),
        )
        await session.commit()
    assert raised is not None
    await browser.sign_in("inspektorat")
    year = (datetime.now(UTC) + timedelta(hours=7)).strftime("%Y")
    bad = await browser.get("/laporan/pengawasan?periode=tahun-ini")
    assert bad.status_code == 422 and 'id="galat-periode"' in bad.text
    page = await browser.get(f"/laporan/pengawasan?periode={year}")
    assert page.status_code == 200, page.text
    assert "<title>Laporan pengawasan - Aplikasi SPLP</title>" in page.text
    assert "Daftar periksa per perangkat daerah" in page.text
    for party in ("kominfo", "dukcapil", "dinsos", "inspektorat"):
        assert f'<th scope="row">{party}<br>' in page.text
    assert "aturan not_found_ratio" in page.text
    assert "Belum ada tindak lanjut yang dicatat" in page.text
    noted_by_api = await browser.post(
        f"/supervision/hits/{raised.hit['id']}/notes",
        json={"text": "Dicek dengan OD"},
        headers=browser.as_("kominfo"),
    )
    assert noted_by_api.status_code == 201, noted_by_api.text
    noted = await browser.get(f"/laporan/pengawasan?periode={year}")
    assert "Dicek dengan OD" in noted.text and "Belum ada tindak lanjut" not in noted.text


def test_sections_the_page_does_not_know_are_shown_as_they_come() -> None:
    """A section another part of the report adds (service-level breaches, supervision
    findings, availability per service) shows as tables, with nothing dropped."""
    from splp.portal.i18n import gettext_for, ngettext_for, number, when
    from splp.portal.monitor import EVALUATION_KEYS
    from splp.portal.render import environment

    report = {
        "period": "2026-11",
        "label": "November 2026",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "totals": dict.fromkeys(
            ("calls", "ok", "caller_errors", "publisher_failures", "denied", "throttled"), 0
        )
        | {"dropped": 0, "publisher_failure_rate": 0, "caller_error_rate": 0},
        "by_service": [{"service": "dukcapil.penduduk.v1", "calls": 0, "availability": 0.975}],
        "by_requester": [],
        "by_operation": [],
        "cross_tab": {"services": [], "requesters": [], "calls": []},
        "unused_services": [],
        "unused_grants": [],
        "grants_in_force": 0,
        "narrative": ["Selama November 2026 ..."],
        "breaches": [{"service": "dukcapil.penduduk.v1", "target": 99.5, "measured": 97.5}],
        "supervision": {"hits": 2, "rules": ["volume", "not_found_ratio"]},
    }
    gettext = gettext_for("id")
    html = environment.get_template("evaluation.html").render(
        _=gettext,
        gettext=gettext,
        ngettext=ngettext_for("id"),
        number=lambda v: number(v, "id"),
        when=lambda v: when(v, "id"),
        lang="id",
        crumbs=[],
        person=None,
        path="/laporan/evaluasi",
        periode="2026-11",
        errors={},
        report=report,
        extra={k: v for k, v in report.items() if k not in EVALUATION_KEYS and v},
        downloads=[],
        chart=None,
    )
    html = re.sub(r"\s+<", "<", html)
    breaches = html.split("Pelanggaran tingkat layanan</h2>", 1)[1].split("</table>", 1)[0]
    assert '<th scope="col">layanan</th>' in breaches and '<th scope="col">target</th>' in breaches
    assert "<td>dukcapil.penduduk.v1</td><td>99,5</td><td>97,5</td>" in breaches
    supervision = html.split("Temuan pengawasan</h2>", 1)[1].split("</section>", 1)[0]
    assert "<dd>2</dd>" in supervision and "<li>not_found_ratio</li>" in supervision
    assert "97,5%" in html  # availability per service, as a percentage
