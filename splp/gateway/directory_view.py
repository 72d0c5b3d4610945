"""What the gateway knows of the directory: applications, grants and service themes.

The gateway reads three resources as its own party (role ``gateway``, ``SPLP_TOKEN``):
``/gateway/credentials`` (the applications of requester parties, secrets as hashes),
``/gateway/grants`` (every grant in force) and ``/services`` (the theme of each
service). It refreshes them every ``SPLP_GATEWAY_REFRESH`` seconds with ETags, so a
revoked application or grant stops working within that time, and it keeps its last copy
(:class:`~splp.bus.directory_cache.DirectoryCache`) while the directory is down: the
directory is never in the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from splp.bus.directory_cache import DirectoryCache
from splp.errors import SplpError
from splp.log import get_logger
from splp.retry import keep_running
from splp.settings import Settings

log = get_logger("gateway.directory")

CREDENTIALS = "/gateway/credentials"
GRANTS = "/gateway/grants"
SERVICES = "/services"


def hash_secret(secret: str) -> str:
    """The hex SHA-256 the directory keeps of a client secret or an API key."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Application:
    client_id: str
    party: str
    secret_hash: str
    api_key_hash: str | None = None

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)


@dataclass(frozen=True, slots=True)
class Grant:
    operations: frozenset[str] | None  # None: every operation
    expires_at: datetime | None

    def covers(self, operation: str, now: datetime) -> bool:
        in_force = self.expires_at is None or now < self.expires_at
        return in_force and (self.operations is None or operation in self.operations)


class DirectoryView:
    """The gateway's copy of applications, grants and themes, refreshed in the background."""

    def __init__(self, settings: Settings, cache: DirectoryCache | None = None) -> None:
        self.settings = settings
        self._cache = cache or DirectoryCache(settings)
        self._applications: dict[str, Application] = {}
        self._api_keys: dict[str, Application] = {}
        self._grants: dict[tuple[str, str], list[Grant]] = {}
        self._themes: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read everything once (from the directory, else the last copy), then keep it fresh."""
        await self.refresh()
        self._task = asyncio.create_task(
            keep_running(
                self._keep_fresh,
                what="gateway refresh",
                initial=self.settings.gateway_refresh,
                maximum=max(self.settings.gateway_refresh, 5.0),
                logger=log,
            ),
            name="splp-gateway-refresh",
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._cache.aclose()

    async def refresh(self) -> None:
        credentials, grants, services = await asyncio.gather(
            self._cache.get(CREDENTIALS), self._cache.get(GRANTS), self._cache.get(SERVICES)
        )
        self.load(credentials, grants, services)

    def load(self, credentials: Any, grants: Any, services: Any) -> None:
        """Take the three feeds, in the shapes the directory serves them."""
        self._load_credentials(credentials)
        self._load_grants(grants)
        self._themes = {
            s["ref"]: s["theme"]
            for s in services
            if isinstance(s, dict) and isinstance(s.get("ref"), str)
        }

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway_refresh)
            try:
                await self.refresh()
            except SplpError as exc:  # no copy at all yet, or a contract breach
                log.warning("cannot refresh the directory's credentials and grants: %s", exc)

    def _load_credentials(self, rows: Any) -> None:
        applications: dict[str, Application] = {}
        api_keys: dict[str, Application] = {}
        for row in rows:
            application = Application(
                row["client_id"], row["party"], row["secret_hash"], row.get("api_key_hash")
            )
            applications[application.client_id] = application
            if application.api_key_hash:
                api_keys[application.api_key_hash] = application
        self._applications, self._api_keys = applications, api_keys

    def _load_grants(self, rows: Any) -> None:
        grants: dict[tuple[str, str], list[Grant]] = {}
        for row in rows:
            operations = row.get("operations")
            expires = row.get("expires_at")
            grant = Grant(
                frozenset(operations) if operations is not None else None,
                _aware(datetime.fromisoformat(expires)) if expires else None,
            )
            grants.setdefault((row["requester"], row["service"]), []).append(grant)
        self._grants = grants

    def application(self, client_id: str) -> Application | None:
        """The application with this client id, if it is active."""
        return self._applications.get(client_id)

    def by_api_key(self, api_key: str) -> Application | None:
        """The application whose API key this is, if it is active."""
        return self._api_keys.get(hash_secret(api_key))

    def theme_of(self, service: str) -> str | None:
        """The theme of ``PUBLISHER.SERVICE.vMAJOR``, ``None`` for an unknown service."""
        return self._themes.get(service)

    def granted(self, party: str, service: str, operation: str) -> bool:
        """Whether ``party`` holds a grant in force for ``operation`` of ``service``."""
        now = datetime.now(UTC)
        return any(g.covers(operation, now) for g in self._grants.get((party, service), ()))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
