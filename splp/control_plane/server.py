"""Running the control plane: migrate the stores, then serve the app on uvicorn."""

from __future__ import annotations

import asyncio
from pathlib import Path

from splp.control_plane.stores import migrate
from splp.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470


def serve(
    settings: Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Bring the stores up to date and serve until interrupted (blocks).

    With ``tls_cert`` (PEM chain) and ``tls_key`` it serves HTTPS only.
    """
    import uvicorn

    from splp.control_plane.app import create_app

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
