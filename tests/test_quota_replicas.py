"""A grant's quota holds across replicas of an adapter (DESIGN section 5).

Three replicas of the echo adapter consume the same queue on the real broker and share
their token buckets in Redis (``SPLP_QUOTA_URL``, the server on 127.0.0.1:6379 that
``scripts/setup.sh`` starts). A requester floods them for a few seconds: at most 1.1
times what one bucket of the grant's quota allows gets through (each replica alone let
the whole quota through, three times it together). With Redis unreachable, the replicas
stay up and each admits its share, the quota divided by the consumers of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from splp.adapters import Adapter
from splp.adapters.from_directory import from_directory
from splp.bus import Client
from splp.bus.names import queue_for
from splp.errors import TooManyRequests
from splp.settings import Settings
from tests.services import HANDLERS
from tests.test_adapter_grants import (
    ECHO,
    Directory,
    publisher_settings,
    running_directory,
)
from tests.test_adapter_grants import users as users  # the fixture

QUOTA = 30  # a minute: 0.5 tokens a second on top of the full bucket
REPLICAS = 3
FLOOD = 3.0
REDIS = "redis://127.0.0.1:6379/0"
DEAD = "redis://127.0.0.1:1/0"


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[Directory]:
    async with running_directory(tmp_path, quota=QUOTA) as running:
        yield running


@contextlib.asynccontextmanager
async def replicas(
    settings: Settings, cache: Path, count: int = REPLICAS
) -> AsyncIterator[list[Adapter]]:
    adapters = []
    try:
        for n in range(count):
            descriptor, grants = await from_directory(
                ECHO.ref, settings.model_copy(update={"cache_dir": cache / str(n)})
            )
            adapter = Adapter(descriptor, HANDLERS, settings, grants=grants, declare_topology=True)
            await adapter.start()
            adapters.append(adapter)
        yield adapters
    finally:
        for adapter in adapters:
            await adapter.stop(grace=2)


async def flood(client: Client, seconds: float) -> tuple[int, int, float]:
    """Calls from 6 concurrent callers for ``seconds``: (admitted, throttled, elapsed)."""
    admitted = throttled = 0
    started = time.monotonic()

    async def caller() -> None:
        nonlocal admitted, throttled
        while time.monotonic() - started < seconds:
            try:
                await client.call("uji", ECHO.ref, "echo", {"id": 1}, timeout=5)
                admitted += 1
            except TooManyRequests:
                throttled += 1

    await asyncio.gather(*(caller() for _ in range(6)))
    return admitted, throttled, time.monotonic() - started


def one_bucket(elapsed: float) -> float:
    """What one bucket of the quota admits in ``elapsed`` seconds: full, then its rate."""
    return QUOTA + QUOTA / 60 * elapsed


PER_REPLICA = "quotas are per replica until SPLP_QUOTA_URL is set"


def per_replica_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if PER_REPLICA in r.getMessage()]


async def test_replicas_without_a_quota_store_are_warned_that_quotas_are_per_replica(
    broker: Settings,
    directory: Directory,
    users: dict[str, Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = publisher_settings(broker, directory, users, tmp_path / "cache")
    assert settings.quota_url is None
    caplog.set_level(logging.WARNING, "splp.adapter")
    async with replicas(settings, tmp_path, count=1):
        assert per_replica_warnings(caplog) == []  # one replica alone: its quota is the quota
    async with replicas(settings, tmp_path, count=2):
        [warning] = per_replica_warnings(caplog)  # the second replica finds the first
    assert f"2 replicas consume {queue_for(ECHO.ref)}" in warning
    assert "2 times the quota" in warning


async def test_three_replicas_share_one_quota(
    broker: Settings,
    directory: Directory,
    users: dict[str, Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = publisher_settings(broker, directory, users, tmp_path / "cache").model_copy(
        update={"quota_url": SecretStr(REDIS)}
    )
    caplog.set_level(logging.WARNING, "splp.adapter")
    async with replicas(settings, tmp_path) as adapters, Client(users["dinsos"]) as dinsos:
        admitted, throttled, elapsed = await flood(dinsos, FLOOD)
        served = [a.metrics.registry.get_sample_value(
            "splp_adapter_requests_total",
            {"kind": "response", "operation": "echo", "service": str(ECHO.ref), "status": "200"},
        ) for a in adapters]  # fmt: skip
    assert throttled > 0
    assert QUOTA <= admitted <= 1.1 * one_bucket(elapsed), (admitted, elapsed, served)
    assert sum(1 for s in served if s) >= 2, served  # the calls really spread over replicas
    assert per_replica_warnings(caplog) == []  # they share one quota store


async def test_without_the_quota_store_each_replica_admits_its_share(
    broker: Settings,
    directory: Directory,
    users: dict[str, Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = publisher_settings(broker, directory, users, tmp_path / "cache").model_copy(
        update={"quota_url": SecretStr(DEAD)}
    )
    caplog.set_level(logging.WARNING, "splp.adapter.quota")
    async with replicas(settings, tmp_path) as adapters, Client(users["dinsos"]) as dinsos:
        admitted, throttled, elapsed = await flood(dinsos, FLOOD)
        fallback = [
            a.metrics.registry.get_sample_value(
                "splp_adapter_quota_fallback", {"service": str(ECHO.ref)}
            )
            for a in adapters
        ]
    assert throttled > 0
    assert admitted <= 1.1 * one_bucket(elapsed), (admitted, elapsed)
    assert fallback == [1.0] * REPLICAS
    warned = [r.getMessage() for r in caplog.records if "quota store unreachable" in r.getMessage()]
    assert len(warned) == REPLICAS, warned
    assert all(f"1/{REPLICAS}" in line for line in warned), warned
