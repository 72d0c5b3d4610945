"""The directory process's ASGI app: the directory API, the audit API and the reconciler.

>>> from splp.settings import Settings
>>> app = create_app(Settings(database_url="sqlite+aiosqlite:///splp.db"))
>>> sorted(p for p in app.openapi()["paths"] if p.startswith("/audit/reports"))
['/audit/reports/abuse', '/audit/reports/evaluasi', '/audit/reports/usage', \
'/audit/reports/usage.svg']

Building the app never touches a database: the stores are migrated by
:func:`~splp.control_plane.stores.migrate` (``splp directory serve``) or
:func:`~splp.control_plane.stores.init_stores` (``splp directory init``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from splp.audit.misuse import load_rules
from splp.audit.routes import router as audit_router
from splp.audit.store import AuditStore
from splp.control_plane.evaluation import StoreFacts
from splp.control_plane.grant_counts import StoreGrantCounter
from splp.control_plane.health_probe import HealthProbe
from splp.control_plane.misuse_watch import MisuseWatch
from splp.control_plane.publisher_usage import router as publisher_usage_router
from splp.control_plane.recertify_timer import RecertifyTimer
from splp.control_plane.requester_usage import router as requester_usage_router
from splp.control_plane.subject import router as subject_router
from splp.directory_service.app import close_directory, directory_app
from splp.directory_service.auth import allow
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.parties import Caller
from splp.directory_service.store import Store
from splp.portal import mount_portal
from splp.settings import Settings

SUPERVISORS = ("administrator", "monitor")
"""The roles that may read the audit trail and its reports (Bungo Pasal 8-9)."""


async def _supervisor(
    request: Request, caller: Annotated[Caller, Depends(allow(*SUPERVISORS))]
) -> None:
    """Lets supervisors through, and names the caller for the audit records of the reports
    they generate."""
    request.state.caller_name = caller.name


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    events: DirectoryEvents | None = None,
) -> FastAPI:
    """The control plane on ``settings.database_url``; audit events go to the broker.

    Call :func:`close_app` (or run it with its lifespan) to release the stores and the
    broker connection.
    """
    settings = settings or Settings()
    app = directory_app(settings, store=store, events=events)
    app.include_router(audit_router, dependencies=[Depends(_supervisor)])
    app.include_router(subject_router)
    app.include_router(publisher_usage_router)
    app.include_router(requester_usage_router)
    app.state.grant_counts = StoreGrantCounter(app.state.store, settings.broker_user_prefix)
    app.state.evaluation_facts = StoreFacts(app.state.store, settings.broker_user_prefix)
    # a bad rules file stops the process here, with the file's problems named
    app.state.misuse_rules = load_rules(settings.misuse_rules) if settings.misuse_rules else []
    mount_portal(app)
    app.router.lifespan_context = _lifespan
    return app


def misuse_watch(app: FastAPI) -> MisuseWatch:
    """The app's misuse watch (:mod:`.misuse_watch`), on its stores and reconciler."""
    if getattr(app.state, "misuse_watch", None) is None:
        app.state.misuse_watch = MisuseWatch(
            app.state.misuse_rules,
            store=app.state.store,
            audit_store=audit_store_of_app(app),
            events=app.state.events,
            settings=app.state.settings,
            reconciler=app.state.broker,
        )
    watch: MisuseWatch = app.state.misuse_watch
    return watch


def audit_store_of_app(app: FastAPI) -> AuditStore:
    if getattr(app.state, "audit_store", None) is None:
        app.state.audit_store = AuditStore(app.state.settings.audit_store_url)
    store: AuditStore = app.state.audit_store
    return store


async def close_app(app: FastAPI) -> None:
    """Flush the directory's audit events (briefly) and close both stores."""
    await close_directory(app)
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
    app.state.events.start()  # the audit events left in the outbox go out now
    watch = probe = None
    if app.state.misuse_rules:
        watch = asyncio.create_task(misuse_watch(app).run_forever(), name="splp-misuse-rules")
    if settings.health_interval > 0:
        prober = HealthProbe(app.state.store, app.state.events, settings)
        probe = asyncio.create_task(prober.run_forever(), name="splp-health-probe")
    recertify = None
    if settings.recertify_interval > 0:
        app.state.recertify_timer = RecertifyTimer(
            app.state.store, app.state.events, app.state.notifier, settings
        )
        recertify = asyncio.create_task(
            app.state.recertify_timer.run_forever(), name="splp-recertify"
        )
    try:
        yield
    finally:
        for task in (timer, watch, probe, recertify):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await close_app(app)
