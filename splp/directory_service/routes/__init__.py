"""The directory API's routers, one per area; :func:`routers` lists them for the app."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from splp.directory_service.routes import (
        access,
        catalog,
        clients,
        gateway,
        parties,
        subject_keys,
    )

    return [
        parties.router,
        clients.router,
        catalog.router,
        access.router,
        gateway.router,
        subject_keys.router,
    ]
