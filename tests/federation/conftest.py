"""Two regencies on this machine, each with its own broker and its own directory.

* ``regency_brokers`` (session) - ``scripts/regency.sh up a`` and ``up b``: standalone
  RabbitMQ nodes on 5682 and 5683 with the shovel plugin; stopped at the end if this
  session started them;
* ``regency_a``/``regency_b`` - a :class:`Regency`: its directory (control plane on a real
  HTTP server, SQLite store) reconciling a vhost of its own on its broker, broker users with
  a unique prefix, and the parties' tokens and broker passwords. Regency ``kab-a`` has the
  requester ``dinsos``, the publisher ``bappeda`` and the partner ``kab-b``; regency
  ``kab-b`` has the publisher ``dukcapil`` (service ``dukcapil.penduduk.v1`` in theme
  ``kependudukan``), its own requester ``dinkes``, the partner ``kab-a`` and kab-a's party
  ``kab-a--dinsos``.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from splp.directory_service.parties import create_party
from splp.http_server import serve_app
from splp.settings import Settings
from tests.broker.conftest import delete_users, descriptor_doc

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "regency.sh"
PORTS = {"a": 5682, "b": 5683}


def regency_sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )


def regency_sh_all(command: str, names: list[str]) -> list[tuple[int, str]]:
    """``scripts/regency.sh COMMAND NAME`` for every name at once: exit codes and outputs."""
    processes = [
        subprocess.Popen(
            [str(SCRIPT), command, name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for name in names
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in processes]
    return [(p.returncode, output) for p, output in zip(processes, outputs, strict=True)]


@pytest.fixture(scope="session")
def regency_brokers() -> Iterator[None]:
    started = [name for name in PORTS if regency_sh("status", name).returncode != 0]
    try:
        for code, output in regency_sh_all("up", started):
            assert code == 0, output
        yield
    finally:
        regency_sh_all("down", started)


@dataclass
class Regency:
    name: str
    settings: Settings
    url: str  # the directory's
    http: httpx.AsyncClient
    management: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def user(self, party: str) -> str:
        return self.settings.broker_user_prefix + party

    def amqp_url(self, party: str) -> str:
        return (
            f"amqp://{quote(self.user(party), safe='')}:{quote(self.passwords[party], safe='')}"
            f"@127.0.0.1:{urlport(self.settings.amqp_url)}/{quote(self.settings.vhost, safe='')}"
        )

    def party_settings(self, party: str, **extra: Any) -> Settings:
        return Settings(
            amqp_url=self.amqp_url(party),
            broker_user_prefix=self.settings.broker_user_prefix,
            directory_url=self.url,
            token=self.tokens[party],
            **extra,
        )

    async def step(self, party: str, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[party]}"},
        )
        assert response.is_success, response.text
        return response.json()

    async def add_party(self, name: str, *roles: str) -> None:
        made = await self.step("admin", "POST", "/parties", {"name": name, "roles": list(roles)})
        self.tokens[name], self.passwords[name] = made["token"], made["broker_password"]


def urlport(url: str) -> int:
    port = httpx.URL(url).port
    assert port is not None
    return port


@contextlib.asynccontextmanager
async def running_regency(name: str, broker: str, folder: Path) -> AsyncIterator[Regency]:
    tag = uuid.uuid4().hex[:8]
    port = PORTS[broker]
    settings = Settings(
        amqp_url=f"amqp://guest:guest@127.0.0.1:{port}/",
        management_url=f"http://guest:guest@127.0.0.1:{port + 10000}",
        database_url=f"sqlite+aiosqlite:///{folder / 'directory.db'}",
        vhost=f"splp-fed-{tag}",
        broker_user_prefix=f"f{tag}-",
        broker_sync_interval=0,
    )
    store = Store(settings.database_url)
    await store.migrate()
    async with store.session() as session:
        _admin, admin_token = await create_party(session, "admin", ["administrator"])
    app = create_app(settings, store=store)
    management = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port + 10000}", auth=("guest", "guest"), timeout=30
    )
    try:
        async with serve_app(app) as url, httpx.AsyncClient(timeout=30) as http:
            regency = Regency(name, settings, url, http, management, {"admin": admin_token})
            r = await regency.http.post(
                url + "/themes",
                json={"name": "kependudukan"},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            assert r.status_code == 201, r.text
            yield regency
    finally:
        await close_app(app)
        await store.close()
        await management.delete(f"/api/vhosts/{quote(settings.vhost, safe='')}")
        await delete_users(management, settings.broker_user_prefix)
        await management.aclose()


@pytest.fixture(scope="session")
async def regency_a(
    regency_brokers: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Regency]:
    async with running_regency("kab-a", "a", tmp_path_factory.mktemp("kab-a")) as a:
        await a.add_party("dinsos", "requester")
        await a.add_party("bappeda", "publisher")
        await a.add_party("kab-b", "partner")
        yield a


@pytest.fixture(scope="session")
async def regency_b(
    regency_brokers: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Regency]:
    async with running_regency("kab-b", "b", tmp_path_factory.mktemp("kab-b")) as b:
        await b.add_party("dukcapil", "publisher")
        await b.add_party("dinkes", "requester")
        await b.add_party("kab-a", "partner")
        await b.add_party("kab-a--dinsos", "requester")
        doc = descriptor_doc("dukcapil", "penduduk", "kependudukan", ["get-by-nik"])
        await b.step("dukcapil", "POST", "/services", doc)
        yield b
