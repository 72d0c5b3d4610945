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
from pathlib import Path
from typing import Any

import orjson

from splp.bus.directory_client import AsyncDirectoryClient, Tagged
from splp.errors import ContractError, RemoteError, ServiceUnavailable
from splp.log import get_logger
from splp.settings import Settings

log = get_logger("directory-cache")


class DirectoryCache:
    """GETs JSON resources from the directory as the party of ``settings.token``."""

    def __init__(self, settings: Settings, *, timeout: float = 5.0) -> None:
        self._directory = AsyncDirectoryClient.from_settings(settings, timeout=timeout)
        self.url = self._directory.url
        token = settings.token.get_secret_value() if settings.token else ""
        # Copies are per directory and per party: two parties see different grants.
        scope = hashlib.sha256(f"{self.url}\0{token}".encode()).hexdigest()[:16]
        self._dir = settings.cache_dir / scope
        self._copies: dict[str, Tagged] = {}

    async def aclose(self) -> None:
        await self._directory.aclose()

    async def get(self, path: str) -> Any:
        """The resource at ``path``: fresh when the directory answers, else the last copy."""
        copy = self._copies.get(path) or self._read(path)
        try:
            fresh = await self._directory.get_tagged(path, copy.etag if copy else None)
        except (ServiceUnavailable, ContractError) as exc:
            return self._fallback(path, copy, str(exc))
        except RemoteError as exc:
            if exc.status < 500:
                raise
            return self._fallback(path, copy, f"directory {self.url} answered {exc.status}")
        if fresh is not None:
            self._write(path, fresh)
            copy = fresh
        assert copy is not None  # "not modified" (None) answers only a copy's ETag
        self._copies[path] = copy
        return copy.body

    async def fetch(self, path: str) -> Any:
        """The resource at ``path``, fresh, with no copy kept on disk: for secrets such as
        the subject key. Raises when the directory does not answer."""
        return await self._directory.get(path)

    def _fallback(self, path: str, copy: Tagged | None, why: str) -> Any:
        if copy is None:
            raise ServiceUnavailable(f"{why}, and no copy of {path} is kept")
        log.warning("%s: using the last copy of %s", why, path)
        self._copies[path] = copy
        return copy.body

    def _file(self, path: str) -> Path:
        return self._dir / (hashlib.sha256(path.encode()).hexdigest()[:32] + ".json")

    def _read(self, path: str) -> Tagged | None:
        try:
            data = orjson.loads(self._file(path).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(data, dict) or "body" not in data:
            return None
        return Tagged(data.get("etag"), data["body"])

    def _write(self, path: str, copy: Tagged) -> None:
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self._dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps({"path": path, "etag": copy.etag, "body": copy.body}))
            os.replace(tmp, self._file(path))
        except OSError as exc:
            log.warning("cannot keep a copy of %s in %s: %s", path, self._dir, exc.strerror)
