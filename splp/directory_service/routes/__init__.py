"""The directory API's routers, one per area; :func:`routers` lists them for the app."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from splp.directory_service.routes import access, catalog, parties

    return [parties.router, catalog.router, access.router]
