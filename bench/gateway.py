"""The ``gateway`` scenario's server: the HTTP gateway in front of the bus.

An HTTP client (aiohttp, as in the ``http`` scenario) posts to the gateway, which calls
the Python echo adapter (the ``gateway-echo`` process) on the bus, on the broker identity
of the party ``benchreq``. The gateway's view of the directory is fixed here (one
application, one grant, one service): the directory is never in the request path, so a
real one would add nothing to the figures. The gateway's broker user is made through the
management API with its derived password, and deleted at the end.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from bench.common import GATEWAY_PARTY, OPERATION, PUBLISHER, SERVICE_GATEWAY, THEME
from splp.bus.gateway_identity import gateway_password, gateway_user
from splp.bus.management import Management
from splp.gateway import DirectoryView, gateway_app, serving
from splp.gateway.directory_view import hash_secret
from splp.settings import Settings

CLIENT_ID = "splp-app-bench"


class FixedView(DirectoryView):
    """The gateway's view of the directory, given instead of fetched."""

    def __init__(self, settings: Settings, client_secret: str) -> None:
        super().__init__(settings)
        self.client_secret = client_secret

    async def start(self) -> None:
        service = f"{PUBLISHER}.{SERVICE_GATEWAY}.v1"
        self.load(
            [{"client_id": CLIENT_ID, "party": GATEWAY_PARTY,
              "secret_hash": hash_secret(self.client_secret), "api_key_hash": None}],
            [{"requester": GATEWAY_PARTY, "service": service, "operations": [OPERATION],
              "expires_at": None}],
            [{"ref": service, "theme": THEME}],
        )  # fmt: skip


@contextlib.asynccontextmanager
async def gateway_server(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    secret = secrets.token_urlsafe(32)
    client_secret = secrets.token_urlsafe(32)
    gateway = settings.model_copy(update={"gateway_secret": SecretStr(secret)})
    user = gateway_user(GATEWAY_PARTY)
    name = quote(user, safe="")
    async with Management(settings) as management:
        password = gateway_password(secret.encode(), user)
        await management.request(
            "PUT", f"/api/users/{name}", json={"password": password, "tags": ""}
        )
        try:
            await management.request(
                "PUT",
                f"/api/permissions/{quote(settings.vhost, safe='')}/{name}",
                json={"configure": "", "write": ".*", "read": ""},
            )
            view = FixedView(gateway, client_secret)
            async with serving(gateway_app(gateway, view)) as url:
                yield {"url": url, "client_id": CLIENT_ID, "client_secret": client_secret}
        finally:
            await management.request("DELETE", f"/api/users/{name}")
