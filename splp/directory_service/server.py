"""Running the directory service: migrate the stores, then serve the API on uvicorn."""

from __future__ import annotations

import asyncio
from pathlib import Path

from splp.directory_service.store import Store
from splp.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470


async def migrate(settings: Settings) -> None:
    """Bring the directory's store and the audit store (which the audit API reads) up to date."""
    from splp.audit.store import AuditStore

    store = Store(settings.database_url)
    try:
        await store.migrate()
    finally:
        await store.close()
    audit = AuditStore(settings.audit_store_url)
    try:
        await audit.migrate()
    finally:
        await audit.close()


def serve(
    settings: Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Bring the store up to date and serve until interrupted (blocks).

    With ``tls_cert`` (PEM chain) and ``tls_key`` it serves HTTPS only.
    """
    import uvicorn

    from splp.directory_service.app import create_app

    asyncio.run(migrate(settings))
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
