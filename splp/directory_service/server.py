"""Running the directory service: migrate the store, then serve the API on uvicorn."""

from __future__ import annotations

import asyncio

from splp.directory_service.store import Store
from splp.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470


async def migrate(settings: Settings) -> None:
    store = Store(settings.database_url)
    try:
        await store.migrate()
    finally:
        await store.close()


def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Bring the store up to date and serve until interrupted (blocks)."""
    import uvicorn

    from splp.directory_service.app import create_app

    asyncio.run(migrate(settings))
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False)
