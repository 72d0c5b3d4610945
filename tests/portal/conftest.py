"""Fixtures of the portal suite: the directory's store and parties (SQLite only: the
portal adds no query of its own, the directory suite covers both engines), a browser-like
client of the control plane's app over https, and people of the demo parties."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from splp.directory_service.catalog import create_theme
from splp.directory_service.parties import create_party
from tests.databases import throwaway_database
from tests.directory.conftest import DEMO, directory_settings, empty, publish

PASSWORD = "kata sandi yang cukup panjang"
PARTIES = {
    "kominfo": ["administrator"],
    "dukcapil": ["publisher"],
    "dinsos": ["requester"],
    "inspektorat": ["monitor"],
}
PEOPLE = {
    "kominfo": "admin@kominfo.go.id",
    "dukcapil": "penerbit@dukcapil.go.id",
    "dinsos": "pemohon@dinsos.go.id",
    "inspektorat": "auditor@inspektorat.go.id",
}
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture(scope="session")
async def portal_store_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with throwaway_database("sqlite", tmp_path_factory, "portal") as url:
        yield url


class Browser(httpx.AsyncClient):
    tokens: dict[str, str]
    app: Any

    def as_(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"}

    async def sign_in(self, party: str) -> httpx.Response:
        self.cookies.clear()
        form = await self.get("/masuk")
        token = CSRF.search(form.text)
        assert token, form.text
        return await self.post(
            "/masuk",
            data={
                "csrf": token.group(1),
                "email": PEOPLE[party],
                "password": PASSWORD,
                "lanjut": "/",
            },
        )

    async def csrf(self, path: str) -> str:
        page = await self.get(path)
        found = CSRF.search(page.text)
        assert found, page.text
        return found.group(1)


@pytest.fixture
def penduduk() -> dict[str, Any]:
    import yaml

    document: dict[str, Any] = yaml.safe_load((DEMO / "penduduk.yaml").read_text())
    return document


@pytest.fixture
async def browser(portal_store_url: str, penduduk: dict[str, Any]) -> AsyncIterator[Browser]:
    from splp.control_plane import migrate

    await migrate(directory_settings(portal_store_url))
    store = Store(portal_store_url)
    tokens = {}
    async with store.session() as session:
        for name, roles in PARTIES.items():
            _party, tokens[name] = await create_party(session, name, roles, name.title())
        await create_theme(session, "kependudukan", "Kependudukan", "")
    app = create_app(directory_settings(portal_store_url), store=store)
    client = Browser(transport=httpx.ASGITransport(app), base_url="https://portal")
    client.tokens = tokens
    client.app = app
    assert (await publish(client, penduduk, "dukcapil")).status_code == 201  # type: ignore[arg-type]
    for party, email in PEOPLE.items():
        created = await client.post(
            "/users",
            json={
                "party": party,
                "email": email,
                "name": f"Pegawai {party}",
                "roles": PARTIES[party],
            },
            headers=client.as_("kominfo"),
        )
        assert created.status_code == 201, created.text
        chosen = await client.post(
            "/auth/set-password",
            json={"token": created.json()["setup_token"], "password": PASSWORD},
        )
        assert chosen.status_code == 204
    try:
        yield client
    finally:
        await client.aclose()
        await empty(store)
        await close_app(app)
