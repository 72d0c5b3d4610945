"""The publisher publishes a new version from the portal: the descriptor's errors beside
its field, the compatibility report (in Bahasa Indonesia) before anything is stored, and
the confirmation of the very descriptor previewed; another publisher's service is a
readable refusal."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from tests.portal.conftest import Browser

PAGE = "/layanan-saya/terbit"
DIGEST = re.compile(r'name="sha256" value="([0-9a-f]{64})"')
CARRIED = re.compile(r'<input type="hidden" name="descriptor" value="([^"]*)">')


def version(document: dict[str, Any], number: str) -> dict[str, Any]:
    return {**copy.deepcopy(document), "version": number}


async def versions(browser: Browser) -> list[str]:
    detail = await browser.get("/services/dukcapil.penduduk.v1", headers=browser.as_("dinsos"))
    return [v["version"] for v in detail.json()["versions"]]


def unescape(text: str) -> str:
    import html

    return html.unescape(text)


async def test_the_form_and_its_errors_beside_the_field(
    browser: Browser, penduduk: dict[str, Any]
) -> None:
    await browser.sign_in("dukcapil")
    page = await browser.get(PAGE)
    assert page.status_code == 200
    assert "<title>Terbitkan versi - Aplikasi SPLP</title>" in page.text
    assert 'aria-current="page">Terbitkan versi</span>' in page.text  # breadcrumb
    assert '<label for="descriptor">Deskriptor (JSON)</label>' in page.text
    assert 'href="/layanan-saya/terbit" aria-current="page"' in page.text  # the desk's menu
    csrf = await browser.csrf(PAGE)
    empty = await browser.post(PAGE, data={"csrf": csrf, "descriptor": "  "})
    assert empty.status_code == 422 and 'id="galat-descriptor"' in empty.text
    assert "Tempelkan deskriptor atau unggah berkasnya." in empty.text
    broken = await browser.post(PAGE, data={"csrf": csrf, "descriptor": '{"publisher": '})
    assert broken.status_code == 422
    assert 'aria-describedby="galat-descriptor"' in broken.text
    assert "Teks ini bukan JSON yang sah" in broken.text and "baris 1" in broken.text
    assert "{&#34;publisher&#34;: </textarea>" in broken.text  # what was typed is kept
    listed = await browser.post(PAGE, data={"csrf": csrf, "descriptor": "[1, 2]"})
    assert listed.status_code == 422 and "harus berupa objek JSON" in listed.text
    schema = await browser.post(
        PAGE, data={"csrf": csrf, "descriptor": json.dumps({**penduduk, "version": "one"})}
    )
    assert schema.status_code == 422 and 'id="galat-descriptor"' in schema.text
    assert "<code>version</code>:" in schema.text  # the API's error, by its field
    theme = await browser.post(
        PAGE, data={"csrf": csrf, "descriptor": json.dumps({**penduduk, "theme": "pajak"})}
    )
    assert theme.status_code == 422
    assert "Tema pajak tidak dikenal: administrator menambahkannya lebih dulu." in theme.text
    other = await browser.post(
        PAGE, data={"csrf": csrf, "descriptor": json.dumps({**penduduk, "publisher": "dinsos"})}
    )
    assert other.status_code == 403
    assert (
        "dukcapil hanya boleh menerbitkan layanannya sendiri, bukan layanan milik dinsos."
        in other.text
    )
    assert "may only publish" not in other.text
    assert await versions(browser) == ["1.0.0"]


async def test_preview_then_confirm_the_same_descriptor(
    browser: Browser, penduduk: dict[str, Any]
) -> None:
    await browser.sign_in("dukcapil")
    csrf = await browser.csrf(PAGE)
    newer = version(penduduk, "1.1.0")
    newer["operations"]["list-by-village"] = copy.deepcopy(newer["operations"]["get-by-nik"])
    text = json.dumps(newer, indent=2)
    preview = await browser.post(
        PAGE,
        data={"csrf": csrf},
        files={"file": ("penduduk-1.1.json", text.encode(), "application/json")},
    )
    assert preview.status_code == 200, preview.text
    assert "Laporan kompatibilitas" in preview.text
    assert "Kompatibel dengan versi 1.0.0: tidak ada pemanggil yang rusak." in preview.text
    assert "Operasi list-by-village ditambahkan." in preview.text
    assert "Konfirmasi terbitkan" in preview.text
    assert await versions(browser) == ["1.0.0"]  # nothing is published by a preview
    digest = DIGEST.search(preview.text)
    carried = CARRIED.search(preview.text)
    assert digest and carried and json.loads(unescape(carried.group(1))) == newer
    confirm = PAGE + "/konfirmasi"
    forged = await browser.post(
        confirm, data={"descriptor": unescape(carried.group(1)), "sha256": digest.group(1)}
    )
    assert forged.status_code == 403 and await versions(browser) == ["1.0.0"]
    swapped = json.dumps({**newer, "title": "Something else"})
    stale = await browser.post(
        confirm, data={"csrf": csrf, "descriptor": swapped, "sha256": digest.group(1)}
    )
    assert stale.status_code == 412
    assert "Deskriptor ini bukan yang dipratinjau: pratinjau lagi." in stale.text
    assert await versions(browser) == ["1.0.0"]
    unchecked = await browser.post(
        confirm, data={"csrf": csrf, "descriptor": swapped, "sha256": ""}
    )
    assert unchecked.status_code == 422 and "Pratinjau deskriptor lebih dulu." in unchecked.text
    done = await browser.post(
        confirm,
        data={"csrf": csrf, "descriptor": unescape(carried.group(1)), "sha256": digest.group(1)},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/katalog/dukcapil.penduduk.v1"
    assert await versions(browser) == ["1.0.0", "1.1.0"]
    again = await browser.post(
        confirm, data={"csrf": csrf, "descriptor": text, "sha256": digest.group(1)}
    )
    assert again.status_code == 409
    assert "Versi 1.1.0 dari dukcapil.penduduk.v1 sudah diterbitkan." in again.text


async def test_a_breaking_version_is_shown_and_cannot_be_confirmed(
    browser: Browser, penduduk: dict[str, Any]
) -> None:
    await browser.sign_in("dukcapil")
    csrf = await browser.csrf(PAGE)
    breaking = version(penduduk, "1.1.0")
    request = breaking["operations"]["get-by-nik"]["request"]
    request["properties"]["purpose"] = {"type": "string"}
    request["required"] = ["nik", "purpose"]
    page = await browser.post(PAGE, data={"csrf": csrf, "descriptor": json.dumps(breaking)})
    assert page.status_code == 200, page.text
    assert "akan merusak pemanggil versi 1.0.0" in page.text and "(2.0.0)" in page.text
    assert "<td><code>get-by-nik</code></td>" in page.text
    assert "Field permintaan purpose kini wajib." in page.text
    assert "Konfirmasi terbitkan" not in page.text and 'name="sha256"' not in page.text
    english = await browser.post(
        PAGE + "?lang=en", data={"csrf": csrf, "descriptor": json.dumps(breaking)}
    )
    assert "The request field purpose is now required." in english.text
    assert await versions(browser) == ["1.0.0"]
