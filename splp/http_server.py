"""Run an ASGI app on a real uvicorn server inside the current event loop.

Used by the demo and the tests, where the wire matters: the agency stub is a real HTTP
server on a real port, not an in-process transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_app(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``port=0`` picks a free one).

    With ``certfile`` (PEM, with ``keyfile`` unless the key is in it) it serves HTTPS.
    """
    port = port or free_port(host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn:{port}")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"server on {host}:{port} stopped while starting")
            await asyncio.sleep(0.01)
        yield f"{'https' if certfile else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
