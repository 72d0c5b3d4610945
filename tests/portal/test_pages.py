"""The portal's pages through a browser-like client: sign-in, the catalogue, a service
page with its schemas as tables, the application form, and the Pasal 7 walk by three
people, each page in Bahasa Indonesia with its security headers."""

from __future__ import annotations

from tests.portal.conftest import PEOPLE, Browser

LETTER = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


async def test_a_page_without_a_session_sends_to_the_login(browser: Browser) -> None:
    answer = await browser.get("/katalog?q=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/masuk?lanjut=/katalog%3Fq%3Dx"
    login = await browser.get("/masuk")
    assert login.status_code == 200
    assert '<html lang="id">' in login.text and "<title>Masuk - Aplikasi SPLP</title>" in login.text
    assert '<label for="email">Alamat e-mail</label>' in login.text
    csp = login.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


async def test_the_walk_of_three_people(browser: Browser) -> None:
    signed = await browser.sign_in("dinsos")
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    home = await browser.get("/")
    assert "Selamat datang, Pegawai dinsos" in home.text
    catalogue = await browser.get("/katalog?q=population")
    assert "dukcapil.penduduk.v1" in catalogue.text
    service = await browser.get("/katalog/dukcapil.penduduk.v1")
    assert "<code>nik</code>" in service.text and "^[0-9]{16}$" in service.text
    csrf = await browser.csrf("/permohonan/baru?layanan=dukcapil.penduduk.v1")
    empty = await browser.post(
        "/permohonan/baru",
        data={"csrf": csrf, "service": "dukcapil.penduduk.v1", "reason": ""},
    )
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text
    form = {
        "csrf": csrf,
        "service": "dukcapil.penduduk.v1",
        "reason": "Verifikasi bansos",
        "operations": "get-by-nik",
    }
    no_basis = await browser.post("/permohonan/baru", data=form)
    assert no_basis.status_code == 422  # personal data: the legal basis is beside its field
    assert 'id="galat-legal_basis"' in no_basis.text and 'id="galat-contact"' in no_basis.text
    not_pdf = await browser.post(
        "/permohonan/baru",
        data={**form, "legal_basis": "Permensos 3/2021", "contact": "Kabid, 0812"},
        files={"letter": ("surat.pdf", b"MZ not a pdf", "application/pdf")},
    )
    assert not_pdf.status_code == 422 and 'id="galat-letter"' in not_pdf.text
    sent = await browser.post(
        "/permohonan/baru",
        data={**form, "legal_basis": "Permensos 3/2021", "contact": "Kabid, 0812"},
        files={"letter": ("surat.pdf", LETTER, "application/pdf")},
    )
    assert sent.status_code == 303, sent.text
    number = sent.headers["location"].rsplit("/", 1)[1]
    page = await browser.get(f"/permohonan/{number}")
    assert "Permensos 3/2021" in page.text and "surat.pdf" in page.text
    download = await browser.get(f"/access-requests/{number}/attachments/1")
    assert download.status_code == 200 and download.content == LETTER
    await browser.sign_in("kominfo")
    inbox = await browser.get("/")
    assert f"/permohonan/{number}" in inbox.text
    csrf = await browser.csrf(f"/permohonan/{number}")
    unchecked = await browser.post(
        f"/permohonan/{number}/approve", data={"csrf": csrf, "reason": "Sesuai"}
    )
    assert unchecked.status_code == 422 and 'id="galat-data_protection_note"' in unchecked.text
    approved = await browser.post(
        f"/permohonan/{number}/approve",
        data={"csrf": csrf, "reason": "Sesuai", "data_protection_note": "Dasar hukum sah"},
    )
    assert approved.status_code == 303, approved.text
    await browser.sign_in("dukcapil")
    csrf = await browser.csrf(f"/permohonan/{number}")
    granted = await browser.post(
        f"/permohonan/{number}/grant",
        data={"csrf": csrf, "reason": "", "quota_per_minute": "60", "expires_on": "2027-06-30"},
    )
    assert granted.status_code == 303, granted.text
    page = await browser.get(f"/permohonan/{number}")
    for person in PEOPLE["dinsos"], PEOPLE["kominfo"], PEOPLE["dukcapil"]:
        assert person in page.text
    assert "30 Jun 2027 23.59 WIB" in page.text


async def test_a_form_without_the_csrf_token_changes_nothing(browser: Browser) -> None:
    await browser.sign_in("dinsos")
    forged = await browser.post(
        "/permohonan/baru", data={"service": "dukcapil.penduduk.v1", "reason": "x"}
    )
    assert forged.status_code == 403
    listed = await browser.get("/access-requests", headers=browser.as_("kominfo"))
    assert listed.json() == []


async def test_the_list_of_requests_filters_by_state(browser: Browser) -> None:
    await browser.sign_in("kominfo")
    everything = await browser.get("/permohonan")
    assert everything.status_code == 200 and "Tidak ada permohonan akses." in everything.text
    nonsense = await browser.get("/permohonan?status=%3Cx%3E")
    assert nonsense.status_code == 200 and "<x>" not in nonsense.text
    granted = await browser.get("/permohonan?status=granted")
    assert '<option value="granted" selected>' in granted.text


async def test_the_service_page_shows_its_data_management_and_personal_fields(
    browser: Browser,
) -> None:
    """Musi Banyuasin Pasal 51(2) and UU 27/2022: who stewards the data, whether it is master
    or reference data, how often it changes, where its truth lives, and which response
    fields are personal (``x-splp-personal: true``), in Bahasa Indonesia and in English."""
    import copy
    import re

    import yaml

    from tests.directory.conftest import DEMO, publish

    statistik = copy.deepcopy(yaml.safe_load((DEMO / "penduduk.yaml").read_text()))
    statistik.update(service="statistik", classification="internal", title="Statistik")
    statistik.pop("data_management")
    for field in statistik["operations"]["get-by-nik"]["response"]["properties"].values():
        field.pop("x-splp-personal", None)
    assert (await publish(browser, statistik, "dukcapil")).status_code == 201  # type: ignore[arg-type]
    await browser.sign_in("dinsos")

    page = (await browser.get("/katalog/dukcapil.penduduk.v1")).text
    section = page[page.index('<h2 id="pengelolaan-data">') :]
    assert "<dt>Walidata</dt><dd>Dinas Kependudukan dan Pencatatan Sipil</dd>" in section
    assert "<dt>Jenis data</dt><dd>data induk</dd>" in section
    assert "<dt>Frekuensi pemutakhiran</dt><dd>daily</dd>" in section
    assert "<dt>Sumber data acuan</dt><dd>SIAK</dd>" in section
    assert "<dt>Satu-satunya sumber untuk</dt><dd><code>nik</code></dd>" in section
    assert "<dt>Klasifikasi</dt><dd>data pribadi</dd>" in section
    listed = re.search(r'<ul class="personal-fields">(.*?)</ul>', section)
    assert listed is not None
    assert re.findall(r"<code>([^<]+)</code>", listed.group(1)) == ["birth_date", "name", "nik"]
    marked = re.findall(r"<td><code>([^<]+)</code> <span class=\"meta\">\(data pribadi\)", page)
    assert marked == ["nik", "name", "birth_date"], "marked in the response table only"

    bare = (await browser.get("/katalog/dukcapil.statistik.v1")).text
    assert "Penerbit belum menjelaskan pengelolaan data ini" in bare
    assert "Tidak ada isian jawaban yang ditandai sebagai data pribadi." in bare
    assert "(data pribadi)" not in bare

    catalogue = (await browser.get("/katalog")).text
    assert "walidata: Dinas Kependudukan dan Pencatatan Sipil" in catalogue

    english = (await browser.get("/katalog/dukcapil.penduduk.v1?lang=en")).text
    assert "<dt>Data steward (walidata)</dt>" in english
    assert "<dt>Kind of data</dt><dd>master data</dd>" in english
    assert "<dt>Source of truth</dt><dd>SIAK</dd>" in english  # the language sticks: last
