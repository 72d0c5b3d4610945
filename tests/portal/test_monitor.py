"""The monitor's views: the chain's verification status (its anchor's signature, a record
edited in the database named), and the evaluation and supervision reports of a period,
with the period's errors beside its field."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text, update

from splp.audit.anchors import Anchoring
from splp.audit.evaluation import Period
from splp.audit.keys import SigningKey
from tests.directory.conftest import publish
from tests.portal.conftest import Browser
from tests.portal.test_desks import audit_store, call, walk_to

NOVEMBER = Period.parse("2026-11")


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
    assert "Ketersediaan per layanan" in html and "Tidak diukur: probe kesehatan" in html
    assert '<td class="num">tidak diukur</td>' in per_service  # no probe yet: never 100%
    assert "100%" not in html
    assert "Tidak ada tingkat layanan yang dijanjikan yang dilanggar" in html
    assert "Tidak ada aturan penyalahgunaan yang terpicu dalam periode ini." in html
    assert 'id="bagian-' not in html  # nothing left for the generic tables
    assert granted
    pdf = await browser.get(f"/audit/reports/evaluasi?period={month}&format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_availability_breaches_and_findings_of_a_past_month(
    browser: Browser, penduduk: dict[str, Any]
) -> None:
    """November 2026 from stored events: the probe's transitions (down 7 hours of 720),
    calls whose p95 is 700 ms, a descriptor promising 99.5% and 500 ms, a misuse hit with
    a follow-up. The page shows the figures the report computed, in Indonesian, and the
    note's text escaped."""
    from splp.directory_service.models import ServiceVersion
    from splp.directory_service.supervision import HitIn, raise_hit
    from splp.portal.i18n import when
    from tests.audit.test_evaluation import at, probed

    app = browser.app
    promised = {**penduduk, "version": "1.0.1"}
    promised["service_level"] = {"availability_target": 99.5, "p95_target_ms": 500}
    assert (await publish(browser, promised, "dukcapil")).status_code == 201  # type: ignore[arg-type]
    start, end = NOVEMBER.start_utc, NOVEMBER.end_utc
    async with app.state.store.sessions() as session:  # both versions out before November
        await session.execute(update(ServiceVersion).values(published_at=start - timedelta(days=3)))
        raised = await raise_hit(
            session,
            app.state.events,
            HitIn(
                "hit-november",
                "not_found",
                "dinsos",
                start + timedelta(days=3),
                start + timedelta(days=3, hours=1),
                service="dukcapil.penduduk.v1",
                operation="get-by-nik",
                figures={"calls": 40, "not_found": 31, "ratio": 0.775},
            ),
        )
        await session.commit()
    assert raised is not None
    hostile = "<script>alert(1)</script> Dinsos dipanggil"
    noted = await browser.post(
        f"/supervision/hits/{raised.hit['id']}/notes",
        json={"text": hostile},
        headers=browser.as_("kominfo"),
    )
    assert noted.status_code == 201, noted.text
    store = await audit_store(browser)
    await store.append(
        [
            probed("down", start - timedelta(days=1)),  # down when the month begins
            probed("up", start + timedelta(hours=1)),
            probed("down", start + timedelta(days=10)),
            probed("up", start + timedelta(days=10, hours=6)),
        ]
    )
    await store.append(
        [
            (at(start + timedelta(days=2, seconds=n), duration_ms=float(d)), None)
            for n, d in enumerate([20, 30, 40, 600, 700] * 4)
        ]
    )
    stored = await browser.get(
        "/audit/reports/evaluasi?period=2026-11", headers=browser.as_("inspektorat")
    )
    assert stored.status_code == 200, stored.text
    report = stored.json()
    (row,) = report["availability"]["services"]
    assert row["availability_percent"] == 99.028  # 713 of 720 hours
    assert (row["outages"], row["down_seconds"], row["observed_seconds"]) == (1, 25200, 2592000)

    await browser.sign_in("inspektorat")
    page = await browser.get("/laporan/evaluasi?periode=2026-11")
    assert page.status_code == 200, page.text
    html = re.sub(r"\s+<", "<", page.text)
    available = html.split("Ketersediaan per layanan</h2>", 1)[1].split("</table>", 1)[0]
    assert f"sampai {when(end, 'id')}" in available  # the month is over: measured to its end
    assert (
        '<td>dukcapil.penduduk.v1</td><td class="num bad">99,028%</td>'
        '<td class="num">99,5%</td><td class="num">1</td><td class="num">7</td>'
        '<td class="num">720</td>'
    ) in available
    per_service = html.split("<h2>Per layanan</h2>", 1)[1].split("</table>", 1)[0]
    assert '<td class="num">99,028%</td>' in per_service
    assert '<td class="num">700</td>' in per_service  # p95 (ms)
    breaches = html.split("Pelanggaran tingkat layanan</h2>", 1)[1].split("</table>", 1)[0]
    assert [b["measure"] for b in report["service_level_breaches"]] == ["availability", "p95_ms"]
    assert (
        '<tr><td>dukcapil.penduduk.v1</td><td>Ketersediaan</td><td class="num nowrap">99,5%</td>'
        '<td class="num nowrap bad">99,028%</td></tr>'
    ) in breaches
    assert (
        '<tr><td>dukcapil.penduduk.v1</td><td>Latensi p95</td><td class="num nowrap">500 ms</td>'
        '<td class="num nowrap bad">700 ms</td></tr>'
    ) in breaches
    findings = html.split("Temuan pengawasan (Pasal 8 ayat (5) huruf b)</h2>", 1)[1]
    findings = findings.split("</main>", 1)[0]
    assert "1 temuan aturan penyalahgunaan dalam periode ini, 1 di antaranya" in findings
    number = raised.hit["id"]
    assert f"#{number}: banyak panggilan tidak ditemukan (404), dugaan enumerasi NIK" in findings
    assert "<dt>Pemohon</dt><dd>dinsos</dd>" in findings
    since, until = start + timedelta(days=3), start + timedelta(days=3, hours=1)
    window = f"{when(since, 'id')} \N{EN DASH} {when(until, 'id')}"
    assert f"<dd>{window}</dd>" in findings
    assert "<dt>panggilan</dt><dd>40</dd>" in findings and "<dd>31</dd>" in findings
    assert "<dt>rasio</dt><dd>0,775</dd>" in findings
    written = when(noted.json()["at"], "id")
    assert written.endswith(" WIB")
    assert (
        f"<li>{written}, kominfo: &lt;script&gt;alert(1)&lt;/script&gt; Dinsos dipanggil</li>"
    ) in findings
    assert "<script>alert" not in page.text
    assert 'id="bagian-' not in html  # none of the three falls back to a generic table


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
    """A key the page has no section for shows as a table, with nothing dropped; a service
    the probe did not see is "tidak diukur", and a report read without the directory
    (``supervision`` null) claims no findings."""
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
        "by_service": [{"service": "dukcapil.keluarga.v1", "calls": 0, "availability": None}],
        "by_requester": [],
        "by_operation": [],
        "cross_tab": {"services": [], "requesters": [], "calls": []},
        "unused_services": [],
        "unused_grants": [],
        "grants_in_force": 0,
        "narrative": ["Selama November 2026 ..."],
        "availability": {
            "measured": False,
            "until": "2026-11-30T17:00:00.000000+00:00",
            "note": "Ketersediaan tidak diukur: ...",
            "services": [
                {
                    "service": "dukcapil.keluarga.v1",
                    "measured": False,
                    "availability_percent": None,
                    "observed_seconds": 0.0,
                    "down_seconds": 0.0,
                    "outages": 0,
                    "availability_target": 99.0,
                }
            ],
        },
        "service_level_breaches": [],
        "supervision": None,
        "service_credits": [{"service": "dukcapil.penduduk.v1", "credit": 2.5}],
    }
    gettext = gettext_for("id")
    html = environment.get_template("evaluation.html").render(
        _=gettext,
        gettext=gettext,
        ngettext=ngettext_for("id"),
        number=lambda v, places=1: number(v, "id", places),
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
    unknown = html.split('<h2 id="bagian-1">service_credits</h2>', 1)[1].split("</table>", 1)[0]
    assert '<th scope="col">credit</th>' in unknown
    assert "<td>dukcapil.penduduk.v1</td><td>2,5</td>" in unknown
    assert html.count('id="bagian-') == 1  # the three known sections are not repeated
    available = html.split("Ketersediaan per layanan</h2>", 1)[1].split("</table>", 1)[0]
    assert "Tidak diukur: probe kesehatan" in available
    assert (
        '<td>dukcapil.keluarga.v1</td><td class="num">tidak diukur</td>'
        '<td class="num">99%</td><td class="num">\N{EN DASH}</td>'
    ) in available
    assert "100%" not in html
    per_service = html.split("<h2>Per layanan</h2>", 1)[1].split("</table>", 1)[0]
    assert '<td class="num">tidak diukur</td></tr>' in per_service
    assert "Tidak ada tingkat layanan yang dijanjikan yang dilanggar" in html
    assert "Temuan pengawasan" not in html  # no directory, no claim either way
