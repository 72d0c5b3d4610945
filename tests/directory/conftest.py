"""Fixtures of the directory suite, which runs whole on SQLite and on PostgreSQL.

* ``store_url`` - a fresh database per engine and session: a temporary SQLite file, or a
  throw-away PostgreSQL database ``splp_test_<random>`` (dropped at the end);
* ``store`` - the migrated store (and audit store, on the same database), emptied after
  each test;
* ``parties`` - tokens of an administrator, two publishers, a requester, a monitor and the
  HTTP gateway's party;
* ``api`` - an ``httpx.AsyncClient`` on the app in-process, with ``api.as_(name)``
  giving the headers of a party;
* ``target`` - the app on a real uvicorn server in a thread of its own (for synchronous
  fuzzers), a service and requests in several states, and a party holding every role.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import delete

from splp.audit.records import AuditBase
from splp.control_plane import close_app, create_app, migrate
from splp.directory_service import Store
from splp.directory_service.catalog import create_theme
from splp.directory_service.models import Base
from splp.directory_service.parties import create_party
from splp.http_server import free_port
from splp.settings import Settings
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.databases import DATABASE_ENGINES, throwaway_database

NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"
NO_MANAGEMENT = "http://guest:guest@127.0.0.1:1"
DEMO = Path(__file__).resolve().parents[2] / "splp" / "demo"

PARTIES = {
    "admin": ["administrator"],
    "dukcapil": ["publisher"],
    "bapenda": ["publisher"],
    "dinsos": ["requester"],
    "inspektorat": ["monitor"],
    "gerbang": ["gateway"],
}


@pytest.fixture(scope="session", params=DATABASE_ENGINES)
async def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with throwaway_database(request.param, tmp_path_factory, "directory") as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    store = Store(store_url)
    await migrate(directory_settings(store_url))
    try:
        yield store
    finally:
        await empty(store)
        await store.close()


async def empty(store: Store) -> None:
    async with store.engine.begin() as connection:
        for table in [
            *reversed(Base.metadata.sorted_tables),
            *reversed(AuditBase.metadata.sorted_tables),
        ]:
            await connection.execute(delete(table))


@pytest.fixture
async def parties(store: Store) -> dict[str, str]:
    """Party name -> API token; also adds the theme ``kependudukan``."""
    tokens = {}
    async with store.session() as session:
        for name, roles in PARTIES.items():
            _party, tokens[name] = await create_party(session, name, roles)
        await create_theme(session, "kependudukan", "Population", "")
    return tokens


class Api(httpx.AsyncClient):
    """A client of the directory app; ``as_(party)`` are that party's auth headers."""

    tokens: dict[str, str]

    def as_(self, party: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"} if party else {}


def directory_settings(store_url: str, **overrides: Any) -> Settings:
    overrides.setdefault("amqp_url", NO_BROKER)
    overrides.setdefault("management_url", NO_MANAGEMENT)
    return Settings(database_url=store_url, **overrides)


@pytest.fixture
async def api(store: Store, parties: dict[str, str]) -> AsyncIterator[Api]:
    app = create_app(directory_settings(store.url), store=store)
    async with Api(transport=httpx.ASGITransport(app), base_url="http://directory") as client:
        client.tokens = parties
        client.app = app  # type: ignore[attr-defined]
        yield client
    await close_app(app)


@pytest.fixture
def penduduk() -> dict[str, Any]:
    """The demo descriptor as a JSON-ready document (version 1.0.0)."""
    import yaml

    return yaml.safe_load((DEMO / "penduduk.yaml").read_text())


async def publish(api: Api, document: dict[str, Any], party: str = "dukcapil") -> httpx.Response:
    return await api.post("/services", json=document, headers=api.as_(party))


STEP_TERMS: dict[str, dict[str, Any]] = {"approve": NOTE, "grant": grant_terms()}


async def walk(api: Api, penduduk: dict[str, Any], to: str) -> int:
    """Publish the demo service (if needed) and move a new request of dinsos to state ``to``."""
    if (
        await api.get("/services/dukcapil.penduduk.v1", headers=api.as_("dinsos"))
    ).status_code == 404:
        assert (await publish(api, penduduk)).status_code == 201
    response = await api.post(
        "/access-requests",
        json={
            "service": "dukcapil.penduduk.v1",
            "reason": "bansos eligibility checks",
            **STATEMENT,
        },
        headers=api.as_("dinsos"),
    )
    assert response.status_code == 201, response.text
    request_id = int(response.json()["id"])
    path = {
        "submitted": [],
        "approved": [("approve", "admin")],
        "rejected": [("reject", "admin")],
        "granted": [("approve", "admin"), ("grant", "dukcapil")],
        "declined": [("approve", "admin"), ("decline", "dukcapil")],
        "suspended": [("approve", "admin"), ("grant", "dukcapil"), ("suspend", "admin")],
        "revoked": [("approve", "admin"), ("grant", "dukcapil"), ("revoke", "admin")],
    }[to]
    for step, party in path:
        body = {"reason": "ok", **STEP_TERMS.get(step, {})}
        response = await api.post(
            f"/access-requests/{request_id}/{step}", json=body, headers=api.as_(party)
        )
        assert response.status_code == 200, response.text
    return request_id


@dataclass
class Target:
    url: str
    token: str
    schema: Any


class ThreadedServer:
    """A uvicorn server on its own thread and event loop."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="directory-fuzz", daemon=True)

    async def __aenter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the fuzz server stopped while starting")
            await asyncio.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 30)


@pytest.fixture
async def target(api: Api, store: Store, penduduk: dict[str, Any]) -> AsyncIterator[Target]:
    for state in ("submitted", "approved", "granted", "suspended", "rejected"):
        await walk(api, penduduk, state)
    async with store.session() as session:
        _party, token = await create_party(
            session, "fuzzer", ["administrator", "publisher", "requester", "monitor", "gateway"]
        )
    # the server thread opens its own engine on the same database (lifespan closes it)
    app = create_app(directory_settings(store.url), store=Store(store.url))
    import schemathesis

    schema = schemathesis.openapi.from_dict(app.openapi())
    async with ThreadedServer(app) as url:
        yield Target(url, token, schema)
