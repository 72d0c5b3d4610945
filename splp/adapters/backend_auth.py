"""How the HTTP adapter proves itself to the agency API: its backend credentials.

A national API behind an API manager (the national SPLP, very likely WSO2 API Manager)
wants ``Authorization: Bearer TOKEN`` (or a renamed header such as ``AuthorizationSPLP``)
with a token from its OAuth2 token endpoint, or a fixed API key; its backend may want a
credential of its own in a second header. :func:`backend_auth` builds, from the config:

- :class:`FixedCredentials`: headers that never change (an API key, the second header);
- :class:`OAuth2Token`: a client-credentials token (RFC 6749 §4.4), fetched on the first
  call, cached, and renewed once ``refresh_at`` (80 %) of its ``expires_in`` has passed
  (a token without ``expires_in`` is renewed after five minutes). One request at a time
  fetches it; the others wait for that one, or go on with the old token while it is
  still valid. When the API rejects a token, :meth:`OAuth2Token.renew` fetches a new one,
  once for all the calls that the same token failed.

Secrets (client id and secret, key, second header) come from ``${VAR}`` or a file, read
when the adapter is built: a missing one is a :class:`ConfigurationError` at start. They
and the tokens are never logged nor put in a problem.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from splp.adapters.agency_client import AgencyClient, ResponseTooLarge
from splp.adapters.backend_auth_config import ApiKey, BackendCredentials, OAuth2ClientCredentials
from splp.adapters.http_config import HttpAdapterConfig, expand_env
from splp.adapters.upstream_faults import retry_after_seconds
from splp.bus.wire import Problem, loads
from splp.errors import (
    ConfigurationError,
    TooManyRequests,
    UpstreamAuth,
    UpstreamError,
    UpstreamTimeout,
)
from splp.log import get_logger

log = get_logger("adapter.http.auth")

DEFAULT_LIFETIME = 300.0  # seconds, for a token answer without expires_in
RENEW_MIN_AGE = 1.0  # a token rejected younger than this is a wrong credential, not an old one
RETRY_FETCH_AFTER = 5.0  # after a failed early renewal, the old token serves this long
_OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")


def read_secret(value: str | None, file: Path | None, where: str) -> str:
    """A secret from ``${VAR}`` text or from a file's whole content (trimmed)."""
    if file is not None:
        try:
            secret = file.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigurationError(f"{where}_file: cannot read {file}: {reason}") from None
        if not secret:
            raise ConfigurationError(f"{where}_file: {file} is empty")
    else:
        assert value is not None  # the config holds exactly one of the two
        secret = expand_env(value)
        if not secret.strip():
            raise ConfigurationError(f"{where}: the environment variable is empty")
    if any(ord(c) < 0x20 or c == "\x7f" for c in secret):
        raise ConfigurationError(f"{where}: has a line break or a control character")
    return secret


@dataclass(frozen=True, slots=True)
class Credential:
    """Headers to send, and the token among them (for :meth:`OAuth2Token.renew`)."""

    headers: Mapping[str, str]
    token: str | None = None


class FixedCredentials:
    """Headers that are the same on every call; nothing to renew."""

    renewable = False

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.credential = Credential(dict(headers))

    async def current(self, timeout: float) -> Credential:
        return self.credential

    async def renew(self, rejected: Credential, timeout: float) -> bool:
        return False


class OAuth2Token:
    """A client-credentials bearer token, cached and renewed (see the module docstring)."""

    renewable = True

    def __init__(
        self,
        profile: OAuth2ClientCredentials,
        client: AgencyClient,
        extra_headers: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile
        self.client = client
        self.extra_headers = dict(extra_headers)
        self.clock = clock
        self.url = URL(profile.token_url)
        self._client_id = read_secret(profile.client_id, profile.client_id_file, "auth.client_id")
        self._secret = read_secret(
            profile.client_secret, profile.client_secret_file, "auth.client_secret"
        )
        self._token: str | None = None
        self._obtained = self._refresh_at = self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def current(self, timeout: float) -> Credential:
        """The credential for the next call: the cached token, renewed when it is due."""
        now, token = self.clock(), self._token
        if token is None or now >= self._expires_at:
            token = await self._renewed(token, timeout, keep_old=False)
        elif now >= self._refresh_at and not self._lock.locked():
            token = await self._renewed(token, timeout, keep_old=True)
        return self._credential(token)

    async def renew(self, rejected: Credential, timeout: float) -> bool:
        """After the API rejected ``rejected``: a new token, once for all its calls.

        False when there is none to try: the rejected token was brand new, so a renewal
        would be refused the same way.
        """
        if rejected.token != self._token:
            return self._token is not None  # another call renewed it already
        if self.clock() - self._obtained < RENEW_MIN_AGE:
            return False
        await self._renewed(rejected.token, timeout, keep_old=False)
        return True

    def _credential(self, token: str) -> Credential:
        return Credential({**self.extra_headers, self.profile.header: f"Bearer {token}"}, token)

    async def _renewed(self, stale: str | None, timeout: float, keep_old: bool) -> str:
        async with self._lock:
            token = self._token
            if token is not None and token != stale and self.clock() < self._expires_at:
                return token  # renewed while this call waited
            started = self.clock()
            try:
                token, lifetime = await self._fetch(self.profile.timeout or timeout)
            except Problem as problem:
                if keep_old and stale is not None and self.clock() < self._expires_at:
                    log.warning("token renewal failed, the current token serves on: %s", problem)
                    self._refresh_at = self.clock() + RETRY_FETCH_AFTER
                    return stale
                raise
            self._token, self._obtained = token, started
            self._refresh_at = started + lifetime * self.profile.refresh_at
            self._expires_at = started + lifetime
            log.info("token obtained from %s, valid %g s", self.url.host, lifetime)
            return token

    async def _fetch(self, timeout: float) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self.profile.scope:
            form["scope"] = self.profile.scope
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if self.profile.credentials_in == "basic":
            # RFC 6749 §2.3.1: each part form-urlencoded before Base64
            pair = f"{quote(self._client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self._client_id, "client_secret": self._secret}
        try:
            response = await self.client.send(
                "POST",
                self.url,
                query={},
                body=urlencode(form).encode(),
                headers=headers,
                timeout=timeout,
            )
        except TimeoutError:
            raise Problem.of(
                UpstreamTimeout, f"the token endpoint did not answer within {timeout:g} s"
            ) from None
        except ResponseTooLarge:
            raise Problem.of(UpstreamError, "the token endpoint answered too much") from None
        except aiohttp.ClientError as exc:
            log.warning("token endpoint unreachable: %s", type(exc).__name__)
            raise Problem.of(UpstreamError, "the token endpoint is unreachable") from None
        body = _json_object(response.body)
        if response.status in (400, 401):
            error = body.get("error")
            reason = error if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else "?"
            log.warning("token endpoint refused the client: %d %s", response.status, reason)
            raise Problem.of(
                UpstreamAuth,
                f"the token endpoint refused the adapter's client credentials ({reason})",
            )
        if response.status == 429:
            extra = {}
            if (seconds := retry_after_seconds(response.headers.get("retry-after"))) is not None:
                extra["retry_after"] = seconds
            raise Problem.of(TooManyRequests, "the token endpoint throttled the adapter", **extra)
        if response.status != 200:
            raise Problem.of(UpstreamError, f"the token endpoint answered {response.status}")
        return _token_of(body)


def _json_object(body: bytes) -> dict[str, object]:
    try:
        document = loads(body) if body else None
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _token_of(body: Mapping[str, object]) -> tuple[str, float]:
    token, kind, lifetime = body.get("access_token"), body.get("token_type"), body.get("expires_in")
    if not isinstance(token, str) or not token or any(ord(c) < 0x21 for c in token):
        raise Problem.of(UpstreamError, "the token endpoint answered without an access_token")
    if kind is not None and (not isinstance(kind, str) or kind.lower() != "bearer"):
        raise Problem.of(UpstreamError, "the token endpoint answered a token that is not Bearer")
    if lifetime is None:
        return token, DEFAULT_LIFETIME
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        raise Problem.of(UpstreamError, "the token endpoint answered a bad expires_in")
    return token, float(lifetime)


def backend_auth(config: HttpAdapterConfig, client: AgencyClient) -> FixedCredentials | OAuth2Token:
    """The credentials the config asks for, its secrets read now (``ConfigurationError``)."""
    extra: dict[str, str] = {}
    second: BackendCredentials | None = config.backend_credentials
    if second is not None:
        extra[second.header] = read_secret(
            second.value, second.value_file, "backend_credentials.value"
        )
    auth = config.auth
    if isinstance(auth, OAuth2ClientCredentials):
        return OAuth2Token(auth, client, extra)
    if isinstance(auth, ApiKey):
        extra[auth.header] = read_secret(auth.key, auth.key_file, "auth.key")
    return FixedCredentials(extra)
