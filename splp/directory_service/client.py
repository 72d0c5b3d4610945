"""A small synchronous client of the directory API, used by the CLI.

>>> client = DirectoryClient("http://127.0.0.1:8470", token="splp_...")  # doctest: +SKIP
>>> client.get("/services", params={"theme": "kependudukan"})             # doctest: +SKIP

A problem answer becomes the matching :class:`~splp.errors.RemoteError` (401 and 403 are
:class:`~splp.errors.Forbidden`, so the CLI exits with the access-denied code); an
unreachable directory is :class:`~splp.errors.ServiceUnavailable`.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from splp import errors
from splp.tls import tls_failure

TIMEOUT = 30.0


class DirectoryClient:
    """Calls the directory at ``url`` as the party holding ``token``."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=TIMEOUT, transport=transport, verify=verify
        )

    def __enter__(self) -> DirectoryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._send("GET", path, params=clean)

    def get_text(self, path: str, params: dict[str, Any] | None = None) -> str:
        """The body of a non-JSON answer (CSV, SVG) as text."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return str(self._send("GET", path, params=clean, raw=True))

    def post(self, path: str, body: Any) -> Any:
        return self._send("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self._send("PUT", path, json=body)

    def _send(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            why = tls_failure(exc) or type(exc).__name__
            raise errors.ServiceUnavailable(f"directory {self.url} is unreachable: {why}") from None
        if response.is_success:
            if raw:
                return response.text
            return response.json() if response.content else None
        raise error_for(response)


def error_for(response: httpx.Response) -> errors.RemoteError:
    """The typed error of a failed answer, from its problem body when it has one."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"title": response.reason_phrase or "error", "status": response.status_code}
    if response.status_code in (401, 403):
        return errors.Forbidden(response.status_code, problem)
    return errors.error_from_problem(response.status_code, problem)
