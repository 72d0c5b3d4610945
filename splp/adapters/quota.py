"""Grant quotas that hold across every replica of a service (DESIGN section 5).

Each replica of an adapter used to keep its own token bucket, so N replicas let N times
a grant's quota through. With ``SPLP_QUOTA_URL`` set, the bucket of a (service,
requester) lives in **Redis** instead: one Lua script refills it from Redis's own clock
and takes a token atomically, so every replica draws from the same bucket, at the cost
of one round trip per call that has a quota. The bucket's key expires once it would be
full again, so Redis holds only the buckets in use.

When Redis cannot be reached (or answers slower than ``SPLP_QUOTA_TIMEOUT``), the adapter
stays up and falls back to a local bucket holding its share of the quota: the quota
divided by the number of consumers of the service queue (the replicas, as the broker
counts them). It says so once in a warning, and in the gauge
``splp_adapter_quota_fallback`` (1 while falling back); it tries Redis again after
``RETRY_AFTER`` seconds. Without ``SPLP_QUOTA_URL`` each replica keeps its own bucket of
the whole quota, as one replica should; an adapter that finds other replicas consuming
its service queue says once, in a warning, that quotas are per replica until
``SPLP_QUOTA_URL`` is set (:class:`splp.adapters.runtime.Adapter`).

The shared bucket needs the ``quota`` extra (``pip install 'splp[quota]'``, redis-py).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from splp.errors import ConfigurationError
from splp.log import get_logger

log = get_logger("adapter.quota")

RETRY_AFTER = 5.0
"""Seconds of local buckets after Redis failed, before trying it again."""

# KEYS[1]: the bucket; ARGV[1]: the quota a minute. Returns the seconds to wait, as a
# string ("0" when a token was taken). TIME is Redis's clock: replicas' clocks may differ.
TAKE_SCRIPT = """
local quota = tonumber(ARGV[1])
local rate = quota / 60.0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or quota
local at = tonumber(state[2]) or now
tokens = math.min(quota, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((quota - tokens) / rate) + 1)
return tostring(wait)
"""


class TokenBuckets:
    """One bucket per requester: ``quota`` tokens a minute, bursts of up to ``quota``."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # requester -> (tokens, at)

    def take(self, requester: str, quota_per_minute: float, now: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        now = time.monotonic() if now is None else now
        rate = quota_per_minute / 60.0
        capacity = max(1.0, float(quota_per_minute))
        tokens, at = self._buckets.get(requester, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[requester] = (tokens - 1.0, now)
            return 0.0
        self._buckets[requester] = (tokens, now)
        return (1.0 - tokens) / rate if rate > 0 else math.inf


class LocalQuota:
    """This replica's own buckets: the whole quota each (no ``SPLP_QUOTA_URL``)."""

    def __init__(self) -> None:
        self.buckets = TokenBuckets()
        self.falling_back = False

    async def take(self, requester: str, quota_per_minute: int) -> float:
        return self.buckets.take(requester, quota_per_minute)

    async def close(self) -> None:
        return None


class SharedQuota:
    """Buckets in Redis at ``url``, shared by every replica of ``service``.

    ``replicas()`` counts the replicas (the consumers of the service queue) for the
    fallback share; it may fail, and then the last count stands.
    """

    def __init__(
        self,
        url: str,
        service: str,
        *,
        timeout: float,
        replicas: Callable[[], Awaitable[int]],
    ) -> None:
        try:
            from redis import asyncio as redis_asyncio
        except ImportError:  # pragma: no cover - the extra is installed in CI
            raise ConfigurationError(
                "SPLP_QUOTA_URL needs redis-py: pip install 'splp[quota]'"
            ) from None
        self._redis: Any = redis_asyncio.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._script: Any = self._redis.register_script(TAKE_SCRIPT)
        self._errors: tuple[type[BaseException], ...] = (
            redis_asyncio.RedisError,
            OSError,
            TimeoutError,
        )
        self.service = service
        self.timeout = timeout
        self.replicas = replicas
        self.share_of = 1
        self.local = TokenBuckets()
        self.falling_back = False
        self._retry_at = 0.0

    def key(self, requester: str) -> str:
        return f"splp:quota:{self.service}:{requester}"

    async def take(self, requester: str, quota_per_minute: int) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        now = time.monotonic()
        if not self.falling_back or now >= self._retry_at:
            try:
                async with asyncio.timeout(self.timeout):
                    wait = await self._script(keys=[self.key(requester)], args=[quota_per_minute])
            except self._errors as exc:
                await self._fall_back(exc)
            else:
                if self.falling_back:
                    self.falling_back = False
                    log.warning("quota store reachable again: %s shares its buckets", self.service)
                return float(wait)
        return self.local.take(requester, quota_per_minute / self.share_of)

    async def _fall_back(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_AFTER
        try:
            self.share_of = max(1, await self.replicas())
        except Exception as count_failed:  # the broker may be in trouble too: keep the last
            log.debug("replicas of %s not counted: %r", self.service, count_failed)
        if not self.falling_back:
            self.falling_back = True
            log.warning(
                "quota store unreachable (%s): each replica of %s admits 1/%d of each quota "
                "until it is back",
                type(exc).__name__,
                self.service,
                self.share_of,
            )

    async def close(self) -> None:
        await self._redis.aclose()


Quota = LocalQuota | SharedQuota
