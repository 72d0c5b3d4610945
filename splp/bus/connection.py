"""A broker connection that keeps itself up: connect, watch, reconnect with back-off.

Both the requester SDK and the adapters hold one :class:`BrokerConnection`. It owns the
lifecycle so that callers can act on each transition: ``on_lost`` fails calls in flight
at once (they must not hang), ``on_ready`` re-opens channels and consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Sequence

import aiormq
from aiormq.abc import AbstractConnection
from yarl import URL

from splp.bus.amqp_text import tolerate_invalid_utf8
from splp.errors import AccessDenied, ServiceUnavailable
from splp.log import get_logger
from splp.retry import keep_running, retry_until_done
from splp.settings import Settings
from splp.tls import CLIENT_CERT_HINT, client_context, tls_failure

log = get_logger("connection")

tolerate_invalid_utf8()

ReadyCallback = Callable[[AbstractConnection], Awaitable[None]]
LostCallback = Callable[[BaseException | None], None]


def connection_url(broker_url: str, name: str, heartbeat: int = 10) -> URL:
    """``broker_url`` with a connection name (shown in the management UI) and a heartbeat."""
    url = URL(broker_url)
    query = dict(url.query)
    query.setdefault("name", name)
    query.setdefault("heartbeat", str(heartbeat))
    return url.with_query(query)


def describe(url: URL) -> str:
    """The broker address without credentials, for messages and logs."""
    port = url.port or (5671 if url.scheme == "amqps" else 5672)
    return f"{url.host}:{port}{url.path}"


async def open_amqp(url: URL, tls: ssl.SSLContext | None = None) -> AbstractConnection:
    """Open one AMQP connection; every broker connection SPLP makes is opened here.

    An ``amqps`` URL is dialled with ``tls`` (by default the context of the environment's
    settings, ``SPLP_TLS_CA_FILE``): the broker's certificate is always verified, and the
    URL's own ``cafile``/``no_verify_ssl`` parameters are ignored. Failures are typed:
    :class:`~splp.errors.AccessDenied` for refused credentials, else
    :class:`~splp.errors.ServiceUnavailable` (saying so when it is the certificate).
    """
    context = None
    if url.scheme == "amqps":
        context = tls or client_context(Settings())
        if "no_verify_ssl" in url.query:
            log.warning("ignoring no_verify_ssl in the broker URL: certificates are verified")
    try:
        return await aiormq.connect(url, context=context)
    except aiormq.exceptions.ProbableAuthenticationError:
        raise AccessDenied(f"broker {describe(url)} refused the credentials") from None
    except (TimeoutError, OSError, aiormq.exceptions.AMQPError) as exc:
        why = tls_failure(exc) or repr(exc)
        if context is not None and "reset" in why:
            why += f"; if the broker wants a client certificate: {CLIENT_CERT_HINT}"
        raise ServiceUnavailable(f"cannot reach broker {describe(url)}: {why}") from None


class BrokerConnection:
    """Connects to ``url`` and reconnects after a loss, with jittered exponential back-off.

    After a loss it waits ``min_backoff`` seconds, then retries with waits between
    ``min_backoff`` and ``max_backoff`` (see :mod:`splp.retry`) until it is closed.

    >>> conn = BrokerConnection("amqp://guest:guest@127.0.0.1/splp", name="doc")
    >>> conn.is_ready
    False

    ``url`` may be a list: the nodes of a cluster (see ``Settings.broker_urls``). Each
    attempt tries them in turn, from the one in use, and the first that accepts wins; after
    a loss the next node is tried first, so that a node that went down is tried last:

    >>> conn = BrokerConnection(["amqp://n1:5701/splp", "amqp://n2:5702/splp"], name="doc")
    >>> conn.address, conn.addresses
    ('n1:5701/splp', ['n1:5701/splp', 'n2:5702/splp'])

    An ``amqps`` URL uses the TLS settings of ``settings`` (default: the environment's),
    see :func:`open_amqp`.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        name: str,
        on_ready: ReadyCallback | None = None,
        on_lost: LostCallback | None = None,
        settings: Settings | None = None,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("a broker connection needs at least one broker URL")
        self.urls = [connection_url(u, name) for u in urls]
        self._current = 0
        self.name = name
        self._settings = settings
        self._tls: ssl.SSLContext | None = None
        self._on_ready = on_ready
        self._on_lost = on_lost
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._connection: AbstractConnection | None = None
        self._ready = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    @property
    def url(self) -> URL:
        """The broker URL in use (or to be tried first)."""
        return self.urls[self._current]

    @property
    def address(self) -> str:
        return describe(self.url)

    @property
    def addresses(self) -> list[str]:
        return [describe(u) for u in self.urls]

    async def start(self) -> None:
        """Connect once (raising on failure), then keep the connection up in the background."""
        if self._supervisor is not None:
            return
        await self._open()
        self._supervisor = asyncio.create_task(
            keep_running(
                self._supervise,
                what=f"connection of {self.name}",
                kind="broker connection",
                initial=self._min_backoff,
                maximum=self._max_backoff,
                logger=log,
            ),
            name="splp-conn",
        )

    async def wait_ready(self, timeout: float | None) -> AbstractConnection:
        """The live connection, waiting up to ``timeout`` seconds for a reconnect."""
        if not self._ready.is_set():
            if self._closing:
                raise ServiceUnavailable("the client is closed")
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                raise ServiceUnavailable(f"broker {self.address} is unreachable") from None
        assert self._connection is not None
        return self._connection

    async def close(self) -> None:
        self._closing = True
        self._ready.clear()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    async def _open(self) -> AbstractConnection:
        """Connect to the first node that accepts, from the one in use (raising the last
        failure when none does), and run ``on_ready`` on it."""
        failure: Exception | None = None
        for _ in self.urls:
            url = self.url
            if url.scheme == "amqps" and self._tls is None:
                self._tls = client_context(self._settings or Settings())
            try:
                connection = await open_amqp(url, self._tls)
            except (ServiceUnavailable, AccessDenied) as exc:
                if len(self.urls) > 1:
                    log.warning("%s", exc)
                failure = exc
                self._current = (self._current + 1) % len(self.urls)
                continue
            try:
                return await self._opened(connection)
            except BaseException:
                self._current = (self._current + 1) % len(self.urls)
                raise
        assert failure is not None
        raise failure

    async def _opened(self, connection: AbstractConnection) -> AbstractConnection:
        self._connection = connection
        try:
            if self._on_ready is not None:
                await self._on_ready(connection)
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        self._ready.set()
        log.info("connected to %s", self.address)
        return connection

    async def _supervise(self) -> None:
        """Watch the connection and reconnect after each loss, until closed.

        Run by :func:`~splp.retry.keep_running`: an error that is not a broker outage (a
        ``ChannelInvalidStateError`` from ``on_ready`` when the new connection closes under
        it) restarts this watch, which then reconnects, instead of ending it.
        """
        while not self._closing:
            connection = self._connection
            if connection is None or connection.is_closed:
                self._ready.clear()
                connection = await self._reconnect()
            await asyncio.wait([connection.closing])
            if self._closing:
                return
            self._ready.clear()
            exc = connection.closing.exception() if not connection.closing.cancelled() else None
            log.warning("lost connection to %s: %r", self.address, exc)
            if self._on_lost is not None:
                self._on_lost(exc)
            # another node first: the lost one may be the one that is down (the loop's
            # next turn reconnects)
            self._current = (self._current + 1) % len(self.urls)

    async def _reconnect(self) -> AbstractConnection:
        await asyncio.sleep(self._min_backoff)
        return await retry_until_done(
            self._open,
            on=(ServiceUnavailable, AccessDenied, aiormq.exceptions.AMQPError, OSError),
            what=f"reconnect to {', '.join(self.addresses)}",
            initial=self._min_backoff,
            maximum=self._max_backoff,
            logger=log,
        )
