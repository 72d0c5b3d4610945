"""Running the gateway: in the foreground (``splp gateway serve``) or inside a loop."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from splp.gateway.app import gateway_app
from splp.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8480


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, host: str = DEFAULT_HOST, port: int = 0
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0: a free port) and yield its base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        bound = runner.addresses[0][1]
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()


def serve(
    settings: Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve the gateway until interrupted (blocks); HTTPS with ``tls_cert`` and ``tls_key``."""
    context = None
    if tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_cert, tls_key)
    web.run_app(
        gateway_app(settings),
        host=host,
        port=port,
        ssl_context=context,
        access_log=None,
        print=None,
        handle_signals=True,
    )
