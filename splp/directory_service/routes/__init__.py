"""The directory API's routers, one per area; :func:`routers` lists them for the app."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from splp.directory_service.routes import (
        access,
        broker,
        catalog,
        clients,
        gateway,
        parties,
        users,
    )

    return [
        parties.router,
        users.router,
        clients.router,
        catalog.router,
        access.router,
        gateway.router,
        broker.router,
    ]
