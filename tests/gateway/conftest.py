"""A world for the HTTP gateway: a real directory served over HTTP with its reconciler
(gateway broker users included), a real adapter of ``dukcapil.penduduk.v1`` taking its
grants from the directory, and the gateway in this process on a free port.

dinsos holds a grant on ``get-by-nik`` (quota :data:`QUOTA` a minute) and one
application with a client secret and an API key; dinkes holds nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from splp.adapters import Service
from splp.adapters.runtime import Adapter
from splp.bus.wire import Problem, Request
from splp.gateway import gateway_app, serving
from splp.http_server import serve_app
from splp.settings import Settings
from tests.broker.conftest import World, made_world
from tests.data_protection import STATEMENT, grant_terms
from tests.logcapture import SECRETS

SECRET = SECRETS.add("the-gateway-secret-of-the-test-regency-0123", "gateway secret")
QUOTA = 30
SERVICE = "dukcapil.penduduk.v1"
RESIDENT = {"nik": "1508010101900001", "name": "Siti Aminah", "village": "Sungai Binjai"}


@dataclass
class GatewayWorld:
    world: World
    url: str
    settings: Settings
    directory_url: str
    client_id: str
    client_secret: str
    api_key: str
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def api(self, path: str = f"/api/{SERVICE.replace('.', '/')}/get-by-nik") -> str:
        return self.url + path

    async def token(self, http: httpx.AsyncClient) -> str:
        response = await http.post(
            self.url + "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


async def get_by_nik(payload: dict[str, Any], request: Request, seen: list[Any]) -> Any:
    seen.append((request.requester, request.via))
    if payload["nik"] != RESIDENT["nik"]:
        raise Problem.not_found("no resident with that NIK")
    return RESIDENT


async def grant(w: World, requester: str, operations: list[str], quota: int) -> int:
    """The Pasal 7 procedure for ``requester`` on :data:`SERVICE`, with a quota."""
    body = {"service": SERVICE, "operations": operations, "reason": "tests", **STATEMENT}
    response = await w.api.post("/access-requests", json=body, headers=w.api.as_(requester))
    assert response.status_code == 201, response.text
    request_id = int(response.json()["id"])
    await w.step(request_id, "approve", "admin")
    response = await w.api.post(
        f"/access-requests/{request_id}/grant",
        json={"reason": "tests", **grant_terms(quota)},
        headers=w.api.as_("dukcapil"),
    )
    assert response.status_code == 200, response.text
    return request_id


@contextlib.asynccontextmanager
async def gateway_world(
    management: httpx.AsyncClient, folder: Path, **gateway_settings: Any
) -> AsyncIterator[GatewayWorld]:
    async with made_world(management, folder, gateway_secret=SECRET) as w:
        await w.add_party("gerbang", "gateway")
        async with serve_app(w.app) as directory_url:
            await grant(w, "dinsos", ["get-by-nik"], QUOTA)
            client = await w.api.post(
                "/parties/dinsos/clients",
                json={"name": "sipd", "api_key": True},
                headers=w.api.as_("admin"),
            )
            assert client.status_code == 201, client.text
            credentials = client.json()
            seen: list[Any] = []
            publisher = w.settings.model_copy(
                update={
                    "amqp_url": w.url("dukcapil"),
                    "directory_url": directory_url,
                    "token": SecretStr(w.api.tokens["dukcapil"]),
                    "cache_dir": folder / "adapter-cache",
                    "grants_refresh": 0.2,
                }
            )
            service = await Service.from_directory(SERVICE, publisher)

            async def lookup(payload: dict[str, Any], request: Request) -> Any:
                return await get_by_nik(payload, request, seen)

            service.operation("get-by-nik")(lookup)
            service.operation("search")(lookup)  # the same schemas (tests/broker/conftest.py)

            adapter: Adapter = service.adapter(publisher)
            settings = w.settings.model_copy(
                update={
                    "directory_url": directory_url,
                    "token": SecretStr(w.api.tokens["gerbang"]),
                    "cache_dir": folder / "gateway-cache",
                    "gateway_refresh": 0.3,
                    "gateway_body_timeout": 1.0,
                    **gateway_settings,
                }
            )
            async with adapter, serving(gateway_app(settings)) as url:
                yield GatewayWorld(
                    w,
                    url,
                    settings,
                    directory_url,
                    credentials["client_id"],
                    credentials["client_secret"],
                    credentials["api_key"],
                    seen,
                )


@pytest.fixture(scope="module")
async def gw(
    management: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayWorld]:
    async with gateway_world(management, tmp_path_factory.mktemp("gateway")) as world:
        yield world


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client
