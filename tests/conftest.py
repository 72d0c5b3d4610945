"""Fixtures on real parts: a throw-away RabbitMQ vhost per test session, real HTTP servers.

* ``broker`` - :class:`Settings` pointing at a fresh vhost ``splp-test-<random>``, created
  and deleted through the management API;
* ``management`` - an ``httpx.AsyncClient`` on the management API (as the admin user);
* ``od_api`` - the base URL of the sample agency API on a real uvicorn server;
* ``descriptor`` - the sample population-register descriptor;
* ``make_adapter`` - a factory of started adapters, stopped at the end of the test;
* ``cluster`` - the 3-node RabbitMQ cluster of ``scripts/cluster.sh``, started once per
  session when a test asks for it, stopped at the end (tests/cluster_nodes.py).

Every log line of the suite is checked for tokens, passwords and payload markers by the
plugin :mod:`tests.logcapture`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiormq
import httpx
import pytest

from splp.adapters import Adapter
from splp.bus import ServiceBinding, ServiceDescriptor, load_descriptor, topology_for
from splp.bus.topology import declare
from splp.cli.app import QUIETED_LOGGERS
from splp.demo.agency import create_app
from splp.http_server import serve_app
from splp.settings import Settings
from tests.cluster_nodes import Cluster

pytest_plugins = ["tests.logcapture"]

DEMO = Path(__file__).resolve().parent.parent / "splp" / "demo"
BASE = Settings(vhost="unused")


def management_endpoint() -> dict[str, Any]:
    """The management API's base URL (without credentials) and login, for an httpx client."""
    url = httpx.URL(BASE.management_url)
    return {
        "base_url": str(url.copy_with(username=None, password=None)),
        "auth": (url.username or "guest", url.password or "guest"),
        "timeout": 30,
    }


def management_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(**management_endpoint())


@pytest.fixture(autouse=True)
def _restore_log_levels() -> Iterator[None]:
    """CLI commands run in-process (CliRunner) set logger levels; no test inherits them."""
    loggers = [logging.getLogger(name) for name in QUIETED_LOGGERS]
    saved = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, saved, strict=True):
        logger.setLevel(level)


@pytest.fixture(scope="session")
async def management() -> AsyncIterator[httpx.AsyncClient]:
    async with management_client() as client:
        try:
            response = await client.get("/api/overview")
        except httpx.ConnectError as exc:
            pytest.fail(f"RabbitMQ management API unreachable at {client.base_url}: {exc}")
        response.raise_for_status()
        yield client


@pytest.fixture(scope="session")
async def broker(management: httpx.AsyncClient) -> AsyncIterator[Settings]:
    vhost = f"splp-test-{uuid.uuid4().hex[:10]}"
    user = httpx.URL(BASE.management_url).username or "guest"
    path = quote(vhost, safe="")
    (await management.put(f"/api/vhosts/{path}")).raise_for_status()
    (
        await management.put(
            f"/api/permissions/{path}/{quote(user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )
    ).raise_for_status()
    try:
        yield Settings(vhost=vhost)
    finally:
        if not os.environ.get("SPLP_KEEP_VHOST"):
            await management.delete(f"/api/vhosts/{path}")


@pytest.fixture(scope="session")
def descriptor() -> ServiceDescriptor:
    return load_descriptor(DEMO / "penduduk.yaml")


@pytest.fixture(scope="session")
async def od_api() -> AsyncIterator[str]:
    async with serve_app(create_app()) as url:
        yield url


@pytest.fixture
async def make_adapter(
    broker: Settings,
) -> AsyncIterator[Callable[..., Awaitable[Adapter]]]:
    started: list[Adapter] = []

    async def make(
        descriptor: ServiceDescriptor, handlers: dict[str, Any], **options: Any
    ) -> Adapter:
        options.setdefault("declare_topology", True)
        adapter = Adapter(descriptor, handlers, broker, **options)
        await adapter.start()
        started.append(adapter)
        return adapter

    yield make
    for adapter in started:
        await adapter.stop(grace=5)
    # requests a test left behind must not reach the next test's adapter
    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel()
        for adapter in started:
            await channel.queue_purge(adapter.queue)
    finally:
        await connection.close()


async def declare_service(broker: Settings, descriptor: ServiceDescriptor) -> None:
    """Declare the topology of ``descriptor`` in the test vhost (as the admin user)."""
    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel()
        await declare(channel, topology_for([ServiceBinding(descriptor.theme, descriptor.ref)]))
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(dict(os.environ))  # SPLP_CLUSTER_DIR, default /tmp/splp-cluster
    was_up = cluster.script("status").returncode == 0
    result = cluster.script("up", timeout=240)
    if result.returncode != 0:
        cluster.script("down")
        pytest.fail(f"scripts/cluster.sh up failed:\n{result.stdout}\n{result.stderr}")
    try:
        yield cluster
    finally:
        if not was_up:
            down = cluster.script("down")
            assert down.returncode == 0, down.stderr
