"""The directory API's routers, one per area; :func:`routers` lists them for the app."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from splp.directory_service.routes import (
        access,
        attachments,
        broker,
        catalog,
        clients,
        gateway,
        parties,
        subject_keys,
        supervision,
        users,
    )

    return [
        parties.router,
        users.router,
        clients.router,
        catalog.router,
        attachments.router,  # before access: /access-requests/{id}/{step} would take it
        access.router,
        gateway.router,
        subject_keys.router,
        broker.router,
        supervision.router,
    ]
