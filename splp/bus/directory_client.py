"""The one client of the directory API: blocking for the CLI, asyncio for the rest.

>>> with DirectoryClient("http://127.0.0.1:8470", "splp_...") as directory:    # doctest: +SKIP
...     directory.get("/services", {"theme": "kependudukan"})
>>> async with AsyncDirectoryClient.from_settings(settings) as directory:    # doctest: +SKIP
...     await directory.get("/me/grants")

Both read every answer the same way:

* a problem answer is the :class:`~splp.errors.RemoteError` of its RFC 9457 body
  (:func:`error_for`); 401 and 403 are :class:`~splp.errors.Forbidden`, an
  :class:`~splp.errors.AccessDenied`, so the CLI exits with the access-denied code;
* a directory that cannot be reached is :class:`~splp.errors.ServiceUnavailable`, with
  the reason of a failed TLS handshake (:func:`splp.tls.tls_failure`);
* a success whose body is not JSON is a :class:`~splp.errors.ContractError`: the URL
  is most likely not a directory.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from splp.errors import (
    ContractError,
    Forbidden,
    RemoteError,
    ServiceUnavailable,
    error_from_problem,
)
from splp.settings import Settings
from splp.tls import http_verify, tls_failure

TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Tagged:
    """A JSON body and the ``ETag`` the directory sent with it."""

    etag: str | None
    body: Any


def error_for(response: httpx.Response) -> RemoteError:
    """The typed error of a failed answer, from its problem body when it has one."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"title": response.reason_phrase or "error", "status": response.status_code}
    if response.status_code in (401, 403):
        return Forbidden(response.status_code, problem)
    return error_from_problem(response.status_code, problem)


class _Directory:
    """What both clients share: where the directory is, who calls, how answers are read."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _unreachable(self, exc: httpx.RequestError) -> ServiceUnavailable:
        why = tls_failure(exc) or type(exc).__name__
        return ServiceUnavailable(f"directory {self.url} is unreachable: {why}")

    def _read(self, response: httpx.Response, *, text: bool = False) -> Any:
        if not response.is_success:
            raise error_for(response)
        if text:
            return response.text
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            where = f"{response.request.method} {response.request.url.path}"
            raise ContractError(
                f"directory {self.url} answered {where} with a body that is not JSON"
            ) from None


def _query(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """The parameters that were given (not ``None``); ``None`` when there are none, which
    keeps a query string written in the path (httpx drops it for ``params={}``)."""
    given = {k: v for k, v in (params or {}).items() if v is not None}
    return given or None


class DirectoryClient(_Directory):
    """Calls the directory at ``url`` as the party holding ``token``, blocking."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token)
        self._http = httpx.Client(
            base_url=self.url,
            headers=self._headers,
            timeout=timeout,
            transport=transport,
            verify=verify,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """The decoded JSON answer to ``method path`` (``None`` when it has no body)."""
        return self._read(self._send(method, path, body, params))

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def get_text(self, path: str, params: dict[str, Any] | None = None) -> str:
        """The body of a non-JSON answer (CSV, SVG) as text."""
        return str(self._read(self._send("GET", path, None, params), text=True))

    def get_bytes(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """The body of a binary answer (PDF, XLSX) as it came."""
        response = self._send("GET", path, None, params)
        if not response.is_success:
            raise error_for(response)
        return response.content

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def _send(
        self, method: str, path: str, body: Any, params: dict[str, Any] | None
    ) -> httpx.Response:
        try:
            return self._http.request(method, path, json=body, params=_query(params))
        except httpx.RequestError as exc:
            raise self._unreachable(exc) from None


class AsyncDirectoryClient(_Directory):
    """Calls the directory at ``url`` as the party holding ``token``, on asyncio."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, token)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=self._headers,
            timeout=timeout,
            transport=transport,
            verify=verify,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float = TIMEOUT) -> Self:
        """The directory of ``settings`` (``SPLP_DIRECTORY_URL``) as the party of
        ``SPLP_TOKEN``, an ``https`` one verified as :func:`splp.tls.http_verify` says."""
        token = settings.token.get_secret_value() if settings.token else None
        return cls(settings.directory_url, token, verify=http_verify(settings), timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """The decoded JSON answer to ``method path`` (``None`` when it has no body)."""
        try:
            response = await self._http.request(method, path, json=body, params=_query(params))
        except httpx.RequestError as exc:
            raise self._unreachable(exc) from None
        return self._read(response)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def get_tagged(self, path: str, etag: str | None = None) -> Tagged | None:
        """The JSON at ``path`` with its ``ETag``; ``None`` when it still matches ``etag``."""
        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = await self._http.get(path, headers=headers)
        except httpx.RequestError as exc:
            raise self._unreachable(exc) from None
        if etag and response.status_code == 304:
            return None
        body = self._read(response)
        return Tagged(response.headers.get("etag"), body)
