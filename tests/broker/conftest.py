"""A world for broker enforcement tests: a directory (SQLite) whose reconciler manages a
vhost of its own and broker users with a unique prefix, both removed at the end.

* ``world`` - the settings, the store, an ``api`` client of the directory, each party's
  broker password and helpers to grant access and to connect as a party;
* the parties: publishers ``dukcapil`` and ``bapenda``, requesters ``dinsos``, ``dinkes``
  and ``pusk``; services ``dukcapil.penduduk.v1`` (two operations) and
  ``dukcapil.keluarga.v1`` in theme ``kependudukan``, ``bapenda.pajak.v1`` in
  ``pendapatan``.
"""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest
import yaml

from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.parties import create_party
from splp.settings import Settings
from tests.data_protection import STATEMENT
from tests.directory.conftest import STEP_TERMS, Api

DEMO = Path(__file__).resolve().parents[2] / "splp" / "demo"


def descriptor_doc(publisher: str, service: str, theme: str, operations: list[str]) -> Any:
    doc = yaml.safe_load((DEMO / "penduduk.yaml").read_text())
    template = next(iter(doc["operations"].values()))
    doc.update(publisher=publisher, service=service, theme=theme)
    doc["operations"] = {op: copy.deepcopy(template) for op in operations}
    return doc


@dataclass
class World:
    settings: Settings
    store: Store
    api: Api
    reconciler: BrokerReconciler
    management: httpx.AsyncClient
    passwords: dict[str, str] = field(default_factory=dict)
    app: Any = None  # the control plane's ASGI app, to serve over HTTP where a test needs it

    def user(self, party: str) -> str:
        return self.settings.broker_user_prefix + party

    def url(self, party: str, password: str | None = None) -> str:
        secret = password if password is not None else self.passwords[party]
        return (
            f"amqp://{quote(self.user(party), safe='')}:{quote(secret, safe='')}"
            f"@127.0.0.1:5672/{quote(self.settings.vhost, safe='')}"
        )

    async def connect(self, party: str, password: str | None = None) -> Any:
        return await aio_pika.connect(self.url(party, password), timeout=10)

    async def add_party(self, name: str, *roles: str) -> None:
        response = await self.api.post(
            "/parties", json={"name": name, "roles": list(roles)}, headers=self.api.as_("admin")
        )
        assert response.status_code == 201, response.text
        self.passwords[name] = response.json()["broker_password"]
        self.api.tokens[name] = response.json()["token"]

    async def step(self, request_id: int, step: str, party: str) -> None:
        response = await self.api.post(
            f"/access-requests/{request_id}/{step}",
            json={"reason": "checked", **STEP_TERMS.get(step, {})},
            headers=self.api.as_(party),
        )
        assert response.status_code == 200, response.text

    async def grant(self, requester: str, service: str, operations: list[str] | None = None) -> int:
        body: dict[str, Any] = {"service": service, "reason": "tests", **STATEMENT}
        if operations is not None:
            body["operations"] = operations
        response = await self.api.post(
            "/access-requests", json=body, headers=self.api.as_(requester)
        )
        assert response.status_code == 201, response.text
        request_id = int(response.json()["id"])
        await self.step(request_id, "approve", "admin")
        await self.step(request_id, "grant", service.split(".")[0])
        return request_id

    async def permission(self, party: str) -> Any:
        vhost = quote(self.settings.vhost, safe="")
        response = await self.management.get(f"/api/permissions/{vhost}/{self.user(party)}")
        return response.json() if response.status_code == 200 else None

    async def topic_permissions(self, party: str) -> dict[str, Any]:
        vhost = quote(self.settings.vhost, safe="")
        response = await self.management.get(f"/api/topic-permissions/{vhost}/{self.user(party)}")
        return {p["exchange"]: p for p in response.json()} if response.status_code == 200 else {}


async def delete_users(management: httpx.AsyncClient, prefix: str) -> None:
    names = [u["name"] for u in (await management.get("/api/users")).json()]
    mine = [n for n in names if n.startswith(prefix)]
    if mine:
        await management.post("/api/users/bulk-delete", json={"users": mine})


@pytest.fixture(scope="session")
async def world(
    management: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with made_world(management, tmp_path_factory.mktemp("broker")) as w:
        yield w


@contextlib.asynccontextmanager
async def made_world(
    management: httpx.AsyncClient, folder: Path, **settings: Any
) -> AsyncIterator[World]:
    """A world in ``folder``: its store, a vhost and users of its own (``settings`` are
    extra :class:`Settings` fields, such as ``queue_type`` or a PostgreSQL
    ``database_url``)."""
    tag = uuid.uuid4().hex[:8]
    settings.setdefault("database_url", f"sqlite+aiosqlite:///{folder / 'dir.db'}")
    config = Settings(
        vhost=f"splp-bt-{tag}",
        broker_user_prefix=f"bt{tag}-",
        broker_sync_interval=0,
        **settings,
    )
    store = Store(config.database_url)
    await store.migrate()
    async with store.session() as session:
        _admin, admin_token = await create_party(session, "admin", ["administrator"])
    app = create_app(config, store=store)
    api = Api(transport=httpx.ASGITransport(app), base_url="http://directory")
    api.tokens = {"admin": admin_token}
    w = World(config, store, api, app.state.broker, management, app=app)
    try:
        for name, roles in [
            ("dukcapil", ["publisher"]),
            ("bapenda", ["publisher"]),
            ("dinsos", ["requester"]),
            ("dinkes", ["requester"]),
            ("pusk", ["requester"]),
        ]:
            await w.add_party(name, *roles)
        for theme in ("kependudukan", "pendapatan"):
            r = await api.post("/themes", json={"name": theme}, headers=api.as_("admin"))
            assert r.status_code == 201, r.text
        for publisher, service, theme, ops in [
            ("dukcapil", "penduduk", "kependudukan", ["get-by-nik", "search"]),
            ("dukcapil", "keluarga", "kependudukan", ["get"]),
            ("bapenda", "pajak", "pendapatan", ["get"]),
        ]:
            doc = descriptor_doc(publisher, service, theme, ops)
            r = await api.post("/services", json=doc, headers=api.as_(publisher))
            assert r.status_code == 201, r.text
        yield w
    finally:
        await api.aclose()
        await close_app(app)
        await management.delete(f"/api/vhosts/{quote(config.vhost, safe='')}")
        await delete_users(management, config.broker_user_prefix)
