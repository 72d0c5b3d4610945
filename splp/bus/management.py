"""A small client of the RabbitMQ management HTTP API, for set-up, the demo and the tests.

The broker reconciler of the directory service drives the same API for users and
permissions; this module only covers what the data plane needs: a vhost, and closing
the connections of a user.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from splp.errors import AccessDenied, ServiceUnavailable
from splp.settings import Settings
from splp.tls import http_verify, tls_failure


def _q(name: str) -> str:
    return quote(name, safe="")


def management_bases(management_url: str) -> list[str]:
    """The management API addresses of ``SPLP_MANAGEMENT_URL``: a comma-separated list names
    the nodes of a cluster, each ``host:port`` or a URL; the login is the first one's.

    >>> management_bases("http://admin:pw@n1:15701, n2:15702,https://n3:15703")
    ['http://n1:15701', 'http://n2:15702', 'https://n3:15703']
    """
    entries = [e.strip() for e in management_url.split(",") if e.strip()]
    first = httpx.URL(entries[0] if entries else "")
    bases = []
    for entry in entries:
        url = httpx.URL(entry if "://" in entry else f"{first.scheme}://{entry}")
        bases.append(str(url.copy_with(username=None, password=None)).rstrip("/"))
    return bases


class Management:
    """``async with Management(settings) as m: await m.ensure_vhost("splp")``.

    With several addresses in ``SPLP_MANAGEMENT_URL`` (the nodes of a cluster), a request
    that cannot reach one node is sent to the next (see :func:`management_bases`).
    """

    def __init__(self, settings: Settings | None = None, *, timeout: float = 30.0) -> None:
        settings = settings or Settings()
        url = httpx.URL(settings.management_url.split(",")[0].strip())
        self.user = url.username or "guest"
        self._bases = management_bases(settings.management_url)
        self._http = httpx.AsyncClient(
            base_url=self._bases[0],
            auth=(self.user, url.password or "guest"),
            timeout=timeout,
            verify=http_verify(settings),
        )

    async def __aenter__(self) -> Management:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response from the node in use, else from the next one that answers."""
        for attempt in range(len(self._bases)):
            try:
                return await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == len(self._bases) - 1:
                    raise self._unreachable(exc) from None
                self._http.base_url = httpx.URL(self._next_base())
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _next_base(self) -> str:
        current = str(self._http.base_url).rstrip("/")
        index = self._bases.index(current) if current in self._bases else -1
        return self._bases[(index + 1) % len(self._bases)]

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._send(method, path, **kwargs)
        if response.status_code >= 400 and not (method == "DELETE" and response.status_code == 404):
            raise _failure(method, path, response.status_code)
        return response

    def _unreachable(self, exc: httpx.HTTPError) -> ServiceUnavailable:
        why = tls_failure(exc) or repr(exc)
        return ServiceUnavailable(
            f"RabbitMQ management API at {self._http.base_url} is unreachable: {why}"
        )

    async def ensure_vhost(self, vhost: str) -> None:
        """Create ``vhost`` (idempotent) and give the management user full rights on it."""
        await self.request("PUT", f"/api/vhosts/{_q(vhost)}")
        await self.request(
            "PUT",
            f"/api/permissions/{_q(vhost)}/{_q(self.user)}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )

    async def delete_vhost(self, vhost: str) -> None:
        await self.request("DELETE", f"/api/vhosts/{_q(vhost)}")

    async def connections(self, vhost: str) -> list[dict[str, Any]]:
        response = await self.request("GET", f"/api/vhosts/{_q(vhost)}/connections")
        return list(response.json())

    async def close_connections(
        self, vhost: str, *, user: str | None = None, name: str | None = None
    ) -> int:
        """Close the connections in ``vhost`` of ``user`` and/or with client name ``name``."""
        closed = 0
        for conn in await self.connections(vhost):
            client_name = (conn.get("client_properties") or {}).get("connection_name")
            if (user is None or conn.get("user") == user) and (name is None or client_name == name):
                await self.request(
                    "DELETE",
                    f"/api/connections/{_q(conn['name'])}",
                    headers={"X-Reason": "closed by SPLP"},
                )
                closed += 1
        return closed

    async def read(self, path: str, **params: str) -> Any:
        """The JSON at ``path`` (``params`` as the query string); ``None`` when it is a 404."""
        response = await self._send("GET", path, params=params or None)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise _failure("GET", path, response.status_code)
        return response.json()

    async def import_definitions(
        self, definitions: dict[str, Any], vhost: str | None = None
    ) -> None:
        """Upsert many objects in one request (``POST /api/definitions[/vhost]``)."""
        path = "/api/definitions" + (f"/{_q(vhost)}" if vhost is not None else "")
        await self.request("POST", path, json=definitions)

    async def close_connections_of(self, users: set[str]) -> None:
        """Close every connection of ``users`` at once.

        Uses the broker's connection tracking (``/api/connections/username/USER``), which
        knows a connection as soon as it is open; the per-vhost connection list is filled
        from statistics and misses connections a few seconds old.
        """
        for user in sorted(users):
            await self.request(
                "DELETE",
                f"/api/connections/username/{_q(user)}",
                headers={"X-Reason": "access changed by SPLP"},
            )


def _failure(method: str, path: str, status: int) -> AccessDenied | ServiceUnavailable:
    """A refused login or permission is :class:`AccessDenied`; anything else unavailable."""
    what = f"RabbitMQ management API: {method} {path} answered {status}"
    if status in (401, 403):
        return AccessDenied(f"{what}: SPLP_MANAGEMENT_URL needs an administrator's login")
    return ServiceUnavailable(what)
