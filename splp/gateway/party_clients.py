"""One bus client per requester party, on that party's gateway broker user.

A call for party A is published as ``<prefix>A@gateway``
(:mod:`splp.bus.gateway_identity`), a broker user that holds exactly A's requester
permissions: the broker refuses what A is not granted even if the gateway's own check
were wrong. Clients are opened on first use and kept. Each is given every broker node of
the settings (``SPLP_AMQP_URLS``, see ``Settings.broker_urls``), so it fails over between
them like any other client.
"""

from __future__ import annotations

import asyncio

from yarl import URL

from splp.bus.client import Client
from splp.bus.gateway_identity import gateway_password, gateway_user
from splp.settings import Settings


class PartyClients:
    """The gateway's bus clients, one per party that has called."""

    def __init__(self, settings: Settings, secret: bytes) -> None:
        self.settings = settings
        self._secret = secret
        self._clients: dict[str, Client] = {}
        self._opening: dict[str, asyncio.Task[Client]] = {}

    def urls_for(self, party: str) -> list[str]:
        """Every broker node's URL, as ``party``'s gateway user (with its derived password)."""
        user = gateway_user(party, self.settings.broker_user_prefix)
        password = gateway_password(self._secret, user)
        return [
            str(URL(url).with_user(user).with_password(password))
            for url in self.settings.broker_urls
        ]

    async def client_for(self, party: str) -> Client:
        client = self._clients.get(party)
        if client is not None:
            return client
        task = self._opening.get(party)
        if task is None:
            task = asyncio.ensure_future(self._open(party))
            self._opening[party] = task
            task.add_done_callback(lambda _: self._opening.pop(party, None))
        return await asyncio.shield(task)

    async def _open(self, party: str) -> Client:
        client = Client(self.settings, url=self.urls_for(party), name=f"splp-gateway:{party}")
        await client.connect()
        self._clients[party] = client
        return client

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
