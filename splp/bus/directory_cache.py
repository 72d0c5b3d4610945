"""What the data plane reads from the directory, with ETags and a last copy on disk.

Adapters fetch their descriptor and grants, requesters their grants and the schemas they
call. The directory is the control plane, never in the request path: when it is down (or
answers 5xx), the last good copy is used, from memory or from ``Settings.cache_dir``, so
an adapter restarted during a directory outage still serves. Only when there is no copy
at all does a fetch fail (:class:`~splp.errors.ServiceUnavailable`).

>>> cache = DirectoryCache(Settings(token="splp_..."))              # doctest: +SKIP
>>> descriptor = await cache.get("/services/dukcapil.penduduk.v1/descriptor")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from splp.errors import ServiceUnavailable, error_from_problem
from splp.log import get_logger
from splp.settings import Settings
from splp.tls import http_verify, tls_failure

log = get_logger("directory-cache")


@dataclass(frozen=True, slots=True)
class _Copy:
    etag: str | None
    body: Any


class DirectoryCache:
    """GETs JSON resources from the directory as the party of ``settings.token``."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        token = settings.token.get_secret_value() if settings.token else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = settings.directory_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=http_verify(settings),
        )
        # Copies are per directory and per party: two parties see different grants.
        scope = hashlib.sha256(f"{self.url}\0{token or ''}".encode()).hexdigest()[:16]
        self._dir = settings.cache_dir / scope
        self._copies: dict[str, _Copy] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> Any:
        """The resource at ``path``: fresh when the directory answers, else the last copy."""
        copy = self._copies.get(path) or self._read(path)
        headers = {"If-None-Match": copy.etag} if copy and copy.etag else {}
        try:
            response = await self._http.get(path, headers=headers)
        except httpx.HTTPError as exc:
            why = tls_failure(exc) or type(exc).__name__
            return self._fallback(path, copy, f"unreachable ({why})")
        if response.status_code == 304 and copy is not None:
            self._copies[path] = copy
            return copy.body
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                return self._fallback(path, copy, "answered with a body that is not JSON")
            fresh = _Copy(response.headers.get("etag"), body)
            self._copies[path] = fresh
            self._write(path, fresh)
            return body
        if response.status_code >= 500:
            return self._fallback(path, copy, f"answered {response.status_code}")
        problem = _problem(response)
        raise error_from_problem(response.status_code, problem)

    def _fallback(self, path: str, copy: _Copy | None, why: str) -> Any:
        if copy is None:
            raise ServiceUnavailable(f"directory {self.url} {why}, and no copy of {path} is kept")
        log.warning("directory %s %s: using the last copy of %s", self.url, why, path)
        self._copies[path] = copy
        return copy.body

    def _file(self, path: str) -> Path:
        return self._dir / (hashlib.sha256(path.encode()).hexdigest()[:32] + ".json")

    def _read(self, path: str) -> _Copy | None:
        try:
            data = orjson.loads(self._file(path).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(data, dict) or "body" not in data:
            return None
        return _Copy(data.get("etag"), data["body"])

    def _write(self, path: str, copy: _Copy) -> None:
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self._dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps({"path": path, "etag": copy.etag, "body": copy.body}))
            os.replace(tmp, self._file(path))
        except OSError as exc:
            log.warning("cannot keep a copy of %s in %s: %s", path, self._dir, exc.strerror)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"title": response.reason_phrase or "error", "status": response.status_code}
