"""A grant's expiry reaches the broker within 5 s: the reconciler's timer wakes at the
earliest expiry, not only every ``broker_sync_interval`` (60 s by default), so the
broker refuses the requester and its open connection is closed."""

from __future__ import annotations

import asyncio
import contextlib
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
