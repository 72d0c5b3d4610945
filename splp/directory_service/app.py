"""The directory service's FastAPI application: its routes and their resources.

>>> from splp.settings import Settings
>>> app = directory_app(Settings(database_url="sqlite+aiosqlite:///splp.db"))
>>> app.title
'SPLP directory'

This is the directory alone. The process that serves it is built by the composition
root, :func:`splp.control_plane.create_app`, which adds the audit API, migrates the
stores and runs the broker reconciler. Prometheus metrics are served on ``/metrics``
(:mod:`splp.directory_service.metrics`).
"""

from __future__ import annotations

import re

from fastapi import FastAPI

from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.notify import Notifier
from splp.directory_service.routes import routers
from splp.directory_service.store import Store
from splp.settings import Settings
from splp.web import problems

ATTACHMENTS = re.compile(r"/access-requests/[0-9]+/attachments|/permohonan/baru")

DESCRIPTION = """\
The control plane of SPLP: the metadata repository (service descriptors with their
JSON Schemas, versioned), the service directory grouped by theme, the parties and their
roles, and the access procedure of Bungo regulation 28/2024 Pasal 7.

Authenticate with `Authorization: Bearer TOKEN`. Every error is a problem
(RFC 9457, `application/problem+json`).
"""


def directory_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    events: DirectoryEvents | None = None,
) -> FastAPI:
    """The directory API on ``settings.database_url``; its audit events go to the broker.

    Call :func:`close_directory` to release the store and the broker connection.
    """
    from splp.directory_service.metrics import DirectoryMetrics, MetricsMiddleware

    settings = settings or Settings()
    app = FastAPI(
        title="SPLP directory",
        version="1",
        description=DESCRIPTION,
        responses={413: problems.PROBLEM_RESPONSE},
    )
    app.state.settings = settings
    app.state.store = store or Store(settings.database_url)
    app.state.events = events or DirectoryEvents(
        settings.broker_urls, settings, store=app.state.store
    )
    app.state.broker = BrokerReconciler(app.state.store, settings)
    app.state.notifier = Notifier(app.state.store, settings)
    problems.install(app)
    for router in routers():
        app.include_router(router)
    app.add_middleware(
        problems.BodyLimit,
        max_bytes=settings.max_body_bytes,
        # a document is larger than a control-plane request (the PDF itself is checked again)
        larger=[(ATTACHMENTS, settings.attachment_max_bytes + 64 * 1024)],
    )
    app.state.metrics = DirectoryMetrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


async def close_directory(app: FastAPI) -> None:
    """Flush the directory's audit events and notifications (briefly), close its store."""
    await app.state.notifier.drain()
    await app.state.events.close()
    await app.state.store.close()
