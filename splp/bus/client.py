"""The requester SDK: RPC over AMQP with direct reply-to.

Many calls share one connection. Each destination (theme exchange + routing key) gets its
own channel, consuming ``amq.rabbitmq.reply-to``: when the broker refuses a publish it
closes the channel, so only calls to that same refused destination fail (with
:class:`~splp.errors.AccessDenied`) while every other call in flight carries on.

>>> async def main():  # doctest: +SKIP
...     async with Client() as client:
...         return await client.call("kependudukan", "dukcapil.penduduk.v1", "get-by-nik",
...                                  {"nik": "1508010101900001"}, timeout=5)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage
from yarl import URL

from splp.bus.connection import BrokerConnection
from splp.bus.descriptor import ServiceDescriptor, parse_descriptor
from splp.bus.directory_cache import DirectoryCache
from splp.bus.federation import link_out, outbound_key
from splp.bus.names import DIRECT_REPLY_TO, ServiceRef, routing_key_for, theme_exchange
from splp.bus.wire import dumps, loads, request_properties, status_of
from splp.errors import (
    AccessDenied,
    ConnectionLost,
    ContractError,
    RequestTimeout,
    ServiceUnavailable,
    SplpError,
    UpstreamError,
    error_from_problem,
)
from splp.log import get_logger
from splp.settings import Settings

log = get_logger("client")


def _error_for_channel_close(exc: BaseException | None, destination: str) -> SplpError:
    if isinstance(exc, aiormq.exceptions.ChannelAccessRefused):
        return AccessDenied(f"the broker refused the publish to {destination}: {exc}")
    if isinstance(exc, aiormq.exceptions.ChannelPreconditionFailed):
        return AccessDenied(f"the broker refused the message to {destination}: {exc}")
    if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        return ServiceUnavailable(f"no such exchange for {destination}: {exc}")
    return ConnectionLost(f"channel to {destination} closed: {exc!r}")


class _Route:
    """One channel for one destination, with the calls awaiting a reply on it."""

    def __init__(self, exchange: str, routing_key: str) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.pending: dict[str, asyncio.Future[DeliveredMessage]] = {}
        self.channel: AbstractChannel | None = None

    @property
    def destination(self) -> str:
        return f"{self.exchange} {self.routing_key}"

    async def open(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        await channel.basic_consume(DIRECT_REPLY_TO, self._on_reply, no_ack=True)
        channel.closing.add_done_callback(self._on_closed)
        self.channel = channel

    @property
    def is_open(self) -> bool:
        return self.channel is not None and not self.channel.is_closed

    async def _on_reply(self, message: DeliveredMessage) -> None:
        future = self.pending.pop(message.header.properties.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message)

    def _on_closed(self, closing: asyncio.Future[Any]) -> None:
        exc = None if closing.cancelled() else closing.exception()
        self.fail_all(_error_for_channel_close(exc, self.destination))

    def fail_all(self, error: SplpError) -> None:
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        if self.channel is not None and not self.channel.is_closed:
            await self.channel.close()


class Client:
    """An async requester: ``await client.call(theme, service, operation, payload)``.

    Configure it with :class:`~splp.settings.Settings` (``SPLP_AMQP_URL``, ``SPLP_VHOST``, and
    ``SPLP_AMQP_URLS`` for the nodes of a cluster, which it fails over between) or pass
    ``url`` (a full broker URL with the vhost as its path, or a list of them: a cluster's
    nodes, tried in turn as with ``SPLP_AMQP_URLS``). Use it as an async
    context manager, or call :meth:`connect` and :meth:`close`. At most ``max_routes``
    idle destination channels stay open (the least recently used close first).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        url: str | Sequence[str] | None = None,
        # A requester that cycles over more destinations than this opens a channel (three
        # round trips) for each call: bench services-1000 ran at a third of services-1 with
        # 256. RabbitMQ's default channel_max per connection is 2047.
        max_routes: int = 1024,
        name: str = "splp-requester",
    ) -> None:
        self.settings = settings or Settings()
        given = [url] if isinstance(url, str) else list(url or [])
        broker_urls = [u for u in given if u] or self.settings.broker_urls
        self._user_id = URL(broker_urls[0]).user or "guest"
        self._connection = BrokerConnection(
            broker_urls, name=name, on_lost=self._on_lost, settings=self.settings
        )
        self._routes: OrderedDict[tuple[str, str], _Route] = OrderedDict()
        self._opening: dict[tuple[str, str], asyncio.Task[_Route]] = {}
        self._max_routes = max_routes
        self._closing: set[asyncio.Future[None]] = set()
        self._destinations: dict[
            tuple[str, ServiceRef | str, str, str | None], tuple[str, str]
        ] = {}
        self._directory: DirectoryCache | None = None

    async def connect(self) -> Client:
        await self._connection.start()
        return self

    async def grants(self) -> list[dict[str, Any]]:
        """This requester's grants in force, from the directory (``SPLP_TOKEN``).

        The last copy is used while the directory is unreachable.
        """
        grants = await self._directory_cache().get("/me/grants")
        return list(grants)

    async def descriptor(self, service: ServiceRef | str) -> ServiceDescriptor:
        """The current descriptor of ``service`` (its operations' schemas), from the directory."""
        ref = service if isinstance(service, ServiceRef) else ServiceRef.parse(service)
        data = await self._directory_cache().get(f"/services/{ref}/descriptor")
        return parse_descriptor(data, f"descriptor of {ref}")

    def _directory_cache(self) -> DirectoryCache:
        if self._directory is None:
            self._directory = DirectoryCache(self.settings)
        return self._directory

    async def close(self) -> None:
        if self._directory is not None:
            await self._directory.aclose()
            self._directory = None
        for route in list(self._routes.values()):
            route.fail_all(ServiceUnavailable("the client was closed"))
        self._routes.clear()
        await self._connection.close()

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def call(
        self,
        theme: str,
        service: ServiceRef | str,
        operation: str,
        payload: Any,
        *,
        timeout: float | None = None,
        traceparent: str | None = None,
        partner: str | None = None,
    ) -> Any:
        """Call ``operation`` of ``service`` in ``theme`` and return the decoded reply.

        With ``partner``, the service is another regency's, called over the link to that
        partner (docs/federation.md): the partner's grants decide.

        Raises :class:`~splp.errors.RequestTimeout` after ``timeout`` seconds (also sent as
        the message ``expiration``), :class:`~splp.errors.ServiceUnavailable` when no queue
        is bound for the service, :class:`~splp.errors.AccessDenied` when the broker
        refuses the publish, and a :class:`~splp.errors.RemoteError` subclass for a
        problem reply.
        """
        reply = await self.call_raw(
            theme,
            service,
            operation,
            dumps(payload),
            timeout=timeout,
            traceparent=traceparent,
            partner=partner,
        )
        return _decode_reply(reply)

    async def call_raw(
        self,
        theme: str,
        service: ServiceRef | str,
        operation: str,
        body: bytes,
        *,
        timeout: float | None = None,
        traceparent: str | None = None,
        partner: str | None = None,
    ) -> DeliveredMessage:
        """:meth:`call` with a body encoded already, returning the reply message as it came
        (its ``splp-status`` header and its body undecoded): for a front such as the HTTP
        gateway that passes replies on. It raises what :meth:`call` raises, except for a
        problem reply, which it returns.
        """
        exchange, routing_key = self._destination(theme, service, operation, partner)
        limit = self.settings.max_body_bytes
        if len(body) > limit:
            raise ContractError(f"request body is {len(body)} bytes; the limit is {limit}")
        timeout = self.settings.default_timeout if timeout is None else timeout
        if timeout <= 0:
            raise ContractError(f"timeout must be positive, got {timeout}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        route = await self._route(exchange, routing_key, timeout)
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[DeliveredMessage] = loop.create_future()
        route.pending[correlation_id] = future
        timer = loop.call_at(deadline, _expire, future, route, correlation_id, timeout)
        try:
            properties = request_properties(
                message_id=correlation_id,
                correlation_id=correlation_id,
                reply_to=DIRECT_REPLY_TO,
                user_id=self._user_id,
                operation=operation,
                timeout=max(deadline - loop.time(), 0.001),
                now=time.time(),
                traceparent=traceparent,
            )
            assert route.channel is not None
            try:
                # bounded by the deadline: a broker under a resource alarm blocks publishers
                await route.channel.basic_publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    properties=properties,
                    mandatory=True,
                    timeout=max(deadline - loop.time(), 0.001),
                )
            except TimeoutError:
                raise RequestTimeout(
                    f"the broker took the request for longer than {timeout:g} s"
                ) from None
            except aiormq.exceptions.PublishError:
                raise ServiceUnavailable(
                    f"no service is bound to {routing_key} on {exchange}"
                ) from None
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if (task is not None and task.cancelling()) or route.is_open:
                    raise  # this call was cancelled
                # aiormq cancels the publishes of a connection that died under them
                raise ConnectionLost(
                    f"connection to the broker was lost while publishing to {route.destination}"
                ) from None
            except Exception as exc:
                if future.done() and not future.cancelled() and future.exception():
                    raise future.exception() from None  # type: ignore[misc]
                if isinstance(exc, aiormq.exceptions.AMQPError):
                    raise _error_for_channel_close(exc, route.destination) from None
                if isinstance(exc, RuntimeError | ConnectionError) or not route.is_open:
                    # the channel or connection died while this call waited to publish
                    # (aiormq's ChannelInvalidStateError, or the reason of a local close)
                    raise ConnectionLost(f"connection to the broker was lost: {exc!r}") from None
                raise
            return await future
        finally:
            timer.cancel()
            route.pending.pop(correlation_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # mark retrieved: the error was raised above

    def _destination(
        self, theme: str, service: ServiceRef | str, operation: str, partner: str | None = None
    ) -> tuple[str, str]:
        """Exchange and routing key of a call; names are checked once, then remembered."""
        key = (theme, service, operation, partner)
        destination = self._destinations.get(key)
        if destination is None:
            ref = service if isinstance(service, ServiceRef) else ServiceRef.parse(service)
            if partner is None:
                destination = theme_exchange(theme), routing_key_for(ref, operation)
            else:
                party = self._user_id.removeprefix(self.settings.broker_user_prefix)
                destination = link_out(partner), outbound_key(party, ref, operation)
            if len(self._destinations) >= 4096:
                self._destinations.clear()
            self._destinations[key] = destination
        return destination

    async def _route(self, exchange: str, routing_key: str, timeout: float) -> _Route:
        key = (exchange, routing_key)
        route = self._routes.get(key)
        if route is not None and route.is_open:
            self._routes.move_to_end(key)
            return route
        task = self._opening.get(key)
        if task is None:
            task = asyncio.ensure_future(self._open_route(key, timeout))
            self._opening[key] = task
            task.add_done_callback(lambda _: self._opening.pop(key, None))
        return await asyncio.shield(task)

    async def _open_route(self, key: tuple[str, str], timeout: float) -> _Route:
        connection = await self._connection.wait_ready(timeout)
        route = _Route(*key)
        try:
            await route.open(connection)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiormq cancels what waits on a connection that dies
            raise ConnectionLost(f"cannot open a channel for {route.destination}") from None
        except Exception as exc:
            # AMQPError, or what aiormq raises when the connection closes under the open
            # before the client noticed (RuntimeError, a bare Exception)
            raise ConnectionLost(
                f"cannot open a channel for {route.destination}: {exc!r}"
            ) from None
        self._routes[key] = route
        self._evict_idle()
        return route

    def _evict_idle(self) -> None:
        while len(self._routes) > self._max_routes:
            for key, route in self._routes.items():
                if not route.pending:
                    del self._routes[key]
                    task = asyncio.ensure_future(route.close())
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
                    break
            else:
                return

    def _on_lost(self, exc: BaseException | None) -> None:
        routes, self._routes = self._routes, OrderedDict()
        error = ConnectionLost(f"connection to the broker was lost: {exc!r}")
        for route in routes.values():
            route.fail_all(error)


def _expire(
    future: asyncio.Future[DeliveredMessage], route: _Route, correlation_id: str, timeout: float
) -> None:
    route.pending.pop(correlation_id, None)
    if not future.done():
        future.set_exception(RequestTimeout(f"no reply within {timeout:g} s"))


def _decode_reply(message: DeliveredMessage) -> Any:
    status = status_of(message.header.properties)
    try:
        body = loads(message.body)
    except ContractError as exc:
        raise UpstreamError(502, {"title": "Malformed reply", "detail": str(exc)}) from None
    if status >= 400:
        problem = body if isinstance(body, dict) else {"title": "Malformed problem reply"}
        raise error_from_problem(status, problem)
    return body
