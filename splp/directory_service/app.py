"""The directory service's FastAPI application.

>>> from splp.settings import Settings
>>> app = create_app(Settings(database_url="sqlite+aiosqlite:///splp.db"))
>>> app.title
'SPLP directory'

The store's schema, and the audit store's, are migrated by ``splp directory init`` or at
``splp directory serve`` start (see :func:`splp.directory_service.server.migrate`), not
here, so that building an app never touches the database. The audit API
(:mod:`splp.audit.routes`) is mounted under ``/audit``, and Prometheus metrics are
served on ``/metrics`` (:mod:`splp.directory_service.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from splp.directory_service import problems
from splp.directory_service.audit import DirectoryAudit
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.routes import routers
from splp.directory_service.store import Store
from splp.settings import Settings

DESCRIPTION = """\
The control plane of SPLP: the metadata repository (service descriptors with their
JSON Schemas, versioned), the service directory grouped by theme, the parties and their
roles, and the access procedure of Bungo regulation 28/2024 Pasal 7.

Authenticate with `Authorization: Bearer TOKEN`. Every error is a problem
(RFC 9457, `application/problem+json`).
"""


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    audit: DirectoryAudit | None = None,
) -> FastAPI:
    """The directory API on ``settings.database_url``; audit events go to ``settings.amqp_url``.

    Call :func:`close_app` (or run it with a lifespan) to release the store and the broker.
    """
    # splp.audit imports this package: its modules are imported when an app is made
    from splp.audit.routes import router as audit_router
    from splp.directory_service.metrics import DirectoryMetrics, MetricsMiddleware

    settings = settings or Settings()
    app = FastAPI(
        title="SPLP directory",
        version="1",
        description=DESCRIPTION,
        lifespan=_lifespan,
        responses={413: problems.PROBLEM_RESPONSE},
    )
    app.state.settings = settings
    app.state.store = store or Store(settings.database_url)
    app.state.audit = audit or DirectoryAudit(settings.broker_url, settings)
    app.state.broker = BrokerReconciler(app.state.store, settings)
    problems.install(app)
    for router in routers():
        app.include_router(router)
    app.include_router(audit_router)
    app.add_middleware(problems.BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.metrics = DirectoryMetrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


async def close_app(app: FastAPI) -> None:
    """Flush audit events (briefly) and close the store and the audit store."""
    await app.state.audit.close()
    await app.state.store.close()
    audit_store = getattr(app.state, "audit_store", None)
    if audit_store is not None:
        await audit_store.close()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    timer = None
    if settings.broker_reconcile and settings.broker_sync_interval > 0:
        reconciler: BrokerReconciler = app.state.broker
        timer = asyncio.create_task(
            reconciler.run_forever(settings.broker_sync_interval), name="splp-broker-reconcile"
        )
    yield
    if timer is not None:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
    await close_app(app)
