"""A throw-away RabbitMQ vhost, created and deleted through the management API."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote, urlsplit

import httpx


def _client(management_url: str) -> httpx.AsyncClient:
    parts = urlsplit(management_url)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    netloc = (parts.hostname or "127.0.0.1") + (f":{parts.port}" if parts.port else "")
    return httpx.AsyncClient(base_url=parts._replace(netloc=netloc).geturl(), auth=auth, timeout=30)


@contextlib.asynccontextmanager
async def throwaway_vhost(management_url: str, amqp_user: str) -> AsyncIterator[str]:
    """Yield the name of a new vhost where ``amqp_user`` may do anything; delete it after."""
    vhost = f"splp-bench-{uuid.uuid4().hex[:10]}"
    path = quote(vhost, safe="")
    async with _client(management_url) as api:
        (await api.put(f"/api/vhosts/{path}")).raise_for_status()
        try:
            permissions = {"configure": ".*", "write": ".*", "read": ".*"}
            user = quote(amqp_user, safe="")
            (await api.put(f"/api/permissions/{path}/{user}", json=permissions)).raise_for_status()
            yield vhost
        finally:
            # Finish the delete even if we are cancelled again (a second Ctrl-C).
            delete = asyncio.ensure_future(api.delete(f"/api/vhosts/{path}"))
            try:
                await asyncio.shield(delete)
            except asyncio.CancelledError:
                await delete
                raise
