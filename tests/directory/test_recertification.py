"""Automatic re-certification notices (UU 27/2022, issue 18): the control plane's timer tells
the holder and the publisher of each grant that ends within ``SPLP_RECERTIFY_DAYS``, once
per expiry date, by an ``access.recertify`` audit event and an e-mail received here by a
real SMTP server on the loopback; the app runs with its lifespan, as uvicorn runs it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from splp.control_plane import close_app, create_app
from splp.control_plane.recertify_timer import ACTOR
from splp.directory_service import Store
from splp.directory_service.models import AccessRequest
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.directory.conftest import PARTIES, directory_settings
from tests.directory.test_notify import PASSWORD, PEOPLE, Inbox, smtp  # noqa: F401


@asynccontextmanager
async def control_plane(
    store: Store, parties: dict[str, str], smtp_port: int, **settings: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (without its lifespan yet) and an administrator's client of it."""
    app = create_app(
        directory_settings(
            store.url,
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            portal_url="https://splp.kab.go.id",
            **settings,
        ),
        store=store,
    )
    admin = {"Authorization": f"Bearer {parties['admin']}"}
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://d", headers=admin) as c:
        yield app, c
    await close_app(app)


async def grant(api: httpx.AsyncClient, parties: dict[str, str], days: int) -> int:
    as_ = {name: {"Authorization": f"Bearer {token}"} for name, token in parties.items()}
    made = await api.post(
        "/access-requests",
        json={"service": "dukcapil.penduduk.v1", "reason": "bansos", **STATEMENT},
        headers=as_["dinsos"],
    )
    rid = int(made.json()["id"])
    assert (
        await api.post(f"/access-requests/{rid}/approve", json={"reason": "ok", **NOTE})
    ).is_success
    granted = await api.post(
        f"/access-requests/{rid}/grant",
        json={"reason": "ok", **grant_terms(days=days)},
        headers=as_["dukcapil"],
    )
    assert granted.status_code == 200, granted.text
    return rid


async def people(app: FastAPI, api: httpx.AsyncClient) -> None:
    """The people of each party, added once the steps' own notices are settled (they had
    no one to go to), so that the inbox holds only re-certification notices."""
    await app.state.notifier.drain()
    for party, address in PEOPLE.items():
        body = {"party": party, "email": address, "name": party, "roles": PARTIES[party]}
        created = (await api.post("/users", json=body)).json()
        answer = await api.post(
            "/auth/set-password", json={"token": created["setup_token"], "password": PASSWORD}
        )
        assert answer.status_code == 204


async def recertify_events(app: FastAPI) -> list[dict[str, Any]]:
    pending = await app.state.events.pending()  # the broker is unreachable: all still here
    return [e for e in pending if e["kind"] == "access.recertify"]


async def passes(app: FastAPI, count: int, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while app.state.recertify_timer.passes < count:
        assert asyncio.get_running_loop().time() < deadline, app.state.recertify_timer.passes
        await asyncio.sleep(0.02)
    await app.state.notifier.drain()


async def test_the_timer_tells_each_grant_once_per_expiry(
    store: Store,
    parties: dict[str, str],
    smtp: tuple[Inbox, int],  # noqa: F811
    penduduk: dict[str, Any],
) -> None:
    inbox, port = smtp
    async with control_plane(store, parties, port, recertify_interval=0.05) as (app, api):
        dukcapil = {"Authorization": f"Bearer {parties['dukcapil']}"}
        assert (await api.post("/services", json=penduduk, headers=dukcapil)).is_success
        soon = await grant(api, parties, days=10)
        await grant(api, parties, days=200)  # outside the 30 days: not told
        await people(app, api)
        async with app.router.lifespan_context(app):
            await inbox.wait_for(1)
            await passes(app, 3)  # later passes find nothing new
            assert len(inbox.mails) == 1
            to, mail = inbox.mails[0]
            assert sorted(to) == sorted([PEOPLE["dinsos"], PEOPLE["dukcapil"]])
            assert mail["Subject"].startswith(f"[SPLP] Hak akses #{soon} berakhir ")
            told = await recertify_events(app)
            assert [(e["request_id"], e["actor"], e["notify"]) for e in told] == [
                (soon, ACTOR, ["dinsos", "dukcapil"])
            ]

            manual = await api.post("/access-grants/expiring/notify")
            assert manual.status_code == 200 and manual.json() == [], "already told"

            async with store.session() as session:  # the grant extended by 10 more days
                row = await session.get_one(AccessRequest, soon)
                extended = row.expires_at + timedelta(days=10)  # type: ignore[operator]
                await session.execute(
                    update(AccessRequest)
                    .where(AccessRequest.id == soon)
                    .values(expires_at=extended)
                )
            done = app.state.recertify_timer.passes
            await inbox.wait_for(2)
            await passes(app, done + 3)
            assert len(inbox.mails) == 2
            assert f"berakhir {extended.date().isoformat()}" in inbox.mails[1][1]["Subject"]
            told = await recertify_events(app)
            assert [e["expires_at"] for e in told][1] == extended.isoformat()
            assert len(told) == 2


@pytest.mark.parametrize(("interval", "told"), [(0, 0), (3600, 1)])
async def test_a_disabled_interval_runs_nothing(
    store: Store,
    parties: dict[str, str],
    smtp: tuple[Inbox, int],  # noqa: F811
    penduduk: dict[str, Any],
    interval: float,
    told: int,
) -> None:
    """``SPLP_RECERTIFY_INTERVAL=0`` starts no timer; any other runs a first pass at start."""
    inbox, port = smtp
    async with control_plane(store, parties, port, recertify_interval=interval) as (app, api):
        dukcapil = {"Authorization": f"Bearer {parties['dukcapil']}"}
        assert (await api.post("/services", json=penduduk, headers=dukcapil)).is_success
        await grant(api, parties, days=5)
        await people(app, api)
        async with app.router.lifespan_context(app):
            if told:
                await passes(app, 1)
            else:
                await asyncio.sleep(0.5)
                assert getattr(app.state, "recertify_timer", None) is None
            await app.state.notifier.drain()
            assert len(inbox.mails) == told
            assert len(await recertify_events(app)) == told


async def test_two_passes_at_once_tell_a_grant_once(
    store: Store,
    parties: dict[str, str],
    smtp: tuple[Inbox, int],  # noqa: F811
    penduduk: dict[str, Any],
) -> None:
    """Two replicas' timers (or a timer and an administrator) on the same database: the
    conditional update lets only one of them announce an expiry."""
    from splp.control_plane.recertify_timer import RecertifyTimer

    inbox, port = smtp
    async with control_plane(store, parties, port, recertify_interval=0) as (app, api):
        dukcapil = {"Authorization": f"Bearer {parties['dukcapil']}"}
        assert (await api.post("/services", json=penduduk, headers=dukcapil)).is_success
        rid = await grant(api, parties, days=5)
        await people(app, api)
        settings = app.state.settings
        timers = [
            RecertifyTimer(Store(store.url), app.state.events, app.state.notifier, settings)
            for _ in range(2)
        ]
        try:
            results = await asyncio.gather(*(t.check() for t in timers))
        finally:
            for timer in timers:
                await timer.store.close()
        assert sorted(len(r) for r in results) == [0, 1]
        assert [g["request_id"] for r in results for g in r] == [rid]
        await app.state.notifier.drain()
        assert len(inbox.mails) == 1
