"""The directory's refusals in the person's language: a known problem is told with the
portal's words and the names it carries; any other keeps the API's own detail."""

from __future__ import annotations

from splp.portal.problems import message
from tests.portal.conftest import CSRF, PEOPLE, Browser


async def test_known_problems_are_told_in_bahasa_indonesia(browser: Browser) -> None:
    form = await browser.get("/masuk")
    token = CSRF.search(form.text)
    assert token
    wrong = await browser.post(
        "/masuk",
        data={"csrf": token.group(1), "email": PEOPLE["dinsos"], "password": "bukan ini"},
    )
    assert wrong.status_code == 401
    assert "Alamat e-mail, kata sandi, atau kode salah." in wrong.text
    assert "wrong e-mail address" not in wrong.text
    await browser.sign_in("dinsos")
    missing = await browser.get("/katalog/dukcapil.tidak-ada.v1")
    assert missing.status_code == 404
    assert "Layanan dukcapil.tidak-ada.v1 tidak ada di direktori." in missing.text
    english = await browser.get("/katalog/dukcapil.tidak-ada.v1?lang=en")
    assert "The service dukcapil.tidak-ada.v1 is not in the directory." in english.text


def test_an_unknown_problem_keeps_the_api_detail() -> None:
    body = {"type": "urn:splp:problem:conflict", "detail": "something the portal never saw"}
    assert message(body) == ("something the portal never saw", {})
    assert message({"type": "urn:splp:problem:not-found", "detail": "no person x"}) == (
        "no person x",
        {},
    )
    assert message("not a problem body") == ("not a problem body", {})
    known, names = message(
        {
            "type": "urn:splp:problem:forbidden",
            "detail": "a may only publish its own services, not b's",
        }
    )
    assert known.startswith("%(party)s may only publish") and names == {"party": "a", "owner": "b"}
