"""Reconcile time for many parties and grants: ``python bench/reconcile.py [PARTIES GRANTS]``.

Builds a throw-away SQLite store (500 parties and 2,000 grants by default: 100 publishers
with one service each over 10 themes, 400 requesters with 5 grants each), runs the
broker reconciler against a throw-away vhost and user prefix on the local RabbitMQ, and
prints the first sync (everything created) and a sync with nothing to change. Cleans up
the vhost and the users afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from splp.bus.management import Management
from splp.directory_service.broker import BrokerReconciler, password_hash
from splp.directory_service.models import (
    AccessRequest,
    Party,
    Service,
    ServiceVersion,
    Theme,
)
from splp.directory_service.store import Store
from splp.settings import Settings

THEMES = 10


async def build(store: Store, parties: int, grants: int) -> None:
    publishers = parties // 5
    requesters = parties - publishers
    async with store.session() as session:
        themes = [Theme(name=f"theme-{i}") for i in range(THEMES)]
        session.add_all(themes)
        pubs = [
            Party(name=f"pub-{i}", roles=["publisher"], broker_password_hash=password_hash("x"))
            for i in range(publishers)
        ]
        reqs = [
            Party(name=f"req-{i}", roles=["requester"], broker_password_hash=password_hash("x"))
            for i in range(requesters)
        ]
        session.add_all(pubs + reqs)
        await session.flush()
        services = [Service(publisher_id=p.id, name="svc") for p in pubs]
        session.add_all(services)
        await session.flush()
        for n, service in enumerate(services):
            session.add(
                ServiceVersion(
                    service_id=service.id,
                    theme_id=themes[n % THEMES].id,
                    major=1,
                    minor=0,
                    patch=0,
                    title="bench",
                    classification="public",
                    descriptor={"operations": {"get": {}, "list": {}}},
                    published_by=service.publisher_id,
                )
            )
        for g in range(grants):
            session.add(
                AccessRequest(
                    requester_id=reqs[g % requesters].id,
                    service_id=services[(g * 7 + g // requesters) % publishers].id,
                    major=1,
                    operations=["get"] if g % 2 else None,
                    reason="bench",
                    state="granted",
                )
            )


async def main(parties: int, grants: int) -> None:
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            vhost=f"splp-bench-{tag}",
            broker_user_prefix=f"bench{tag}-",
        )
        store = Store(settings.database_url)
        await store.migrate()
        await build(store, parties, grants)
        reconciler = BrokerReconciler(store, settings, timeout=120)
        try:
            for label in ("first sync", "no-change re-sync", "no-change re-sync"):
                started = time.perf_counter()
                drift = await reconciler.sync()
                elapsed = time.perf_counter() - started
                print(f"{label:<20} {elapsed:6.2f} s  {len(drift.changes):5d} changes")
            status = await reconciler.status()
            print("desired", status.desired.counts())
        finally:
            async with Management(settings, timeout=120) as management:
                await management.delete_vhost(settings.vhost)
                users = [u["name"] for u in await management.read("/api/users")]
                mine = [u for u in users if u.startswith(settings.broker_user_prefix)]
                await management.request("POST", "/api/users/bulk-delete", json={"users": mine})
            await store.close()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]] or [500, 2000]
    asyncio.run(main(*args))
