"""A grant's expiry reaches the broker within 5 s: the reconciler's timer wakes at the
earliest expiry, not only every ``broker_sync_interval`` (60 s by default), so the
broker refuses the requester and its open connection is closed."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from datetime import timedelta

import aiormq
import pytest

from splp.db import utcnow
from tests.broker.conftest import World
from tests.broker.test_enforcement import NIK, REFUSED, THEME, connect, publish, refused
from tests.data_protection import BIG_QUOTA, STATEMENT
from tests.test_wire_raw import RawCaller

KEY = "dukcapil.penduduk.v1.get-by-nik"
AHEAD = 6.0


async def test_an_expired_grant_is_refused_and_its_connection_closed_within_5_s(
    world: World,
) -> None:
    party = "rs-expiry"
    await world.add_party(party, "requester")
    timer = asyncio.create_task(world.reconciler.run_forever(60))  # as `directory serve` runs it
    try:
        asked = await world.api.post(
            "/access-requests",
            json={"service": "dukcapil.penduduk.v1", "reason": "tests", **STATEMENT},
            headers=world.api.as_(party),
        )
        request_id = asked.json()["id"]
        await world.step(request_id, "approve", "admin")
        expires_at = utcnow() + timedelta(seconds=AHEAD)
        granted = await world.api.post(
            f"/access-requests/{request_id}/grant",
            json={
                "reason": "until the end of the test",
                "expires_at": expires_at.isoformat(),
                "quota_per_minute": BIG_QUOTA,
            },
            headers=world.api.as_("dukcapil"),
        )
        assert granted.status_code == 200, granted.text
        connection = await connect(world, party)
        caller = await RawCaller(connection, world.user(party)).open()
        await caller.publish(KEY, NIK, caller.properties("get-by-nik"), exchange=THEME)
        expiry = time.monotonic() + (expires_at - utcnow()).total_seconds()
        try:
            while time.monotonic() < expiry + 5:
                await caller.publish(KEY, NIK, caller.properties("get-by-nik"), exchange=THEME)
                await asyncio.sleep(0.1)
            pytest.fail("the connection still publishes 5 s after the grant expired")
        except (*REFUSED, aiormq.exceptions.ChannelInvalidStateError, RuntimeError):
            cut = time.monotonic() - expiry
            assert -0.5 < cut < 5, f"cut {cut:.1f} s after the expiry"
        finally:
            await connection.close()
        again = await connect(world, party)
        try:
            assert "ACCESS_REFUSED" in await refused(publish(again, party, KEY, world))
        finally:
            await again.close()
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


async def test_cancelling_the_timer_while_it_reads_the_next_expiry_leaves_nothing_unawaited(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``directory serve`` cancels the timer at shutdown, possibly while the store answers
    the next expiry: no ``Event.wait()`` coroutine may be left created and never awaited
    (Python reports it as an unraisable warning, which pytest fails)."""
    reading = asyncio.Event()

    async def slow_store(interval: float) -> float:  # the store is slow to answer
        reading.set()
        await asyncio.sleep(3600)
        return interval

    monkeypatch.setattr(world.reconciler, "_until_next", slow_store)
    timer = asyncio.create_task(world.reconciler.run_forever(60))
    await asyncio.wait_for(reading.wait(), 30)
    timer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await timer
    assert timer.cancelled()
    gc.collect()  # an abandoned coroutine warns when it is collected
