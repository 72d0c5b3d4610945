"""The publisher-side adapter: consume a service queue, check each request, call the handler, reply.

Every delivery goes through the same steps, in this order:

1. a request whose deadline has passed, or whose ``reply_to`` is not a direct reply-to
   address (missing, or naming some other queue), cannot be answered usefully or safely:
   it is rejected to ``splp.dlx`` and a ``dropped`` audit event is emitted;
2. a request that did not come through its theme exchange, or that carries no
   ``user_id`` (so the broker vouched for no caller), gets 403 and a ``denied`` event;
3. an unknown operation gets 404, an ``splp-protocol`` other than 1 gets 400;
4. with grants from the directory, a caller without a grant in force for the operation
   gets 403 (``denied``), one over its quota 429 with ``retry_after`` (``throttled``);
5. an oversized body gets 413, a body that is not JSON 400, a schema violation 400 with
   the failing JSON pointers;
6. the handler runs; a :class:`~splp.bus.wire.Problem` it raises becomes the reply,
   any other exception a 500 (logged without the payload);
7. the response is checked against the operation's response schema (500 if it fails);
8. the reply is published, then the request is acked, then a ``response`` event is emitted.

Handlers run concurrently, up to ``prefetch`` at a time. A request is acked only after
its reply was published, so a crash before that leaves it to another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, cast

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from splp.adapters.grants import Admission, DirectoryGrants, Throttled
from splp.adapters.metrics import AdapterMetrics
from splp.bus.audit_events import AuditEmitter, audit_event
from splp.bus.connection import BrokerConnection
from splp.bus.descriptor import ServiceDescriptor, schema_errors
from splp.bus.names import DIRECT_REPLY_TO, queue_for, routing_key_for, theme_exchange
from splp.bus.topology import ServiceBinding, declare, topology_for
from splp.bus.wire import (
    HEADER_PROTOCOL,
    HEADER_TRACEPARENT,
    PROTOCOL_VERSION,
    Problem,
    Request,
    deadline_of,
    dumps,
    loads,
    reply_properties,
)
from splp.errors import (
    ConfigurationError,
    ContractError,
    InternalError,
    PayloadTooLarge,
    SchemaViolation,
)
from splp.log import get_logger
from splp.metrics import MetricsServer
from splp.settings import Settings

log = get_logger("adapter")

Handler = Callable[[Any, Request], Awaitable[Any]]


class Adapter:
    """Serves one service version: ``handlers`` maps each operation name to a coroutine.

    >>> adapter = Adapter(descriptor, {"get-by-nik": get_by_nik})  # doctest: +SKIP
    >>> await adapter.run()  # until SIGTERM or SIGINT  # doctest: +SKIP
    """

    def __init__(
        self,
        descriptor: ServiceDescriptor,
        handlers: Mapping[str, Handler],
        settings: Settings | None = None,
        *,
        url: str | None = None,
        prefetch: int = 64,
        declare_topology: bool = False,
        name: str | None = None,
        grants: DirectoryGrants | None = None,
        metrics_port: int = 0,
    ) -> None:
        missing = sorted(set(descriptor.operations) - set(handlers))
        unknown = sorted(set(handlers) - set(descriptor.operations))
        if missing or unknown:
            raise ConfigurationError(
                f"handlers do not match the descriptor of {descriptor.ref}: "
                f"missing {missing or 'none'}, unknown {unknown or 'none'}"
            )
        if prefetch < 1:
            raise ConfigurationError("prefetch must be at least 1")
        self.descriptor = descriptor
        self.handlers = dict(handlers)
        self.settings = settings or Settings()
        self.prefetch = prefetch
        self.declare_topology = declare_topology
        self.queue = queue_for(descriptor.ref)
        self.exchange = theme_exchange(descriptor.theme)
        self.source = name or f"adapter:{descriptor.ref}"
        self.audit = AuditEmitter()
        self.grants = grants
        self.admission = (
            Admission(grants, self.settings.broker_user_prefix) if grants is not None else None
        )
        if grants is None:
            log.warning("%s: no grants source: only the broker checks callers", self.source)
        self._routing_keys = {
            routing_key_for(descriptor.ref, op): op for op in descriptor.operations
        }
        self._connection = BrokerConnection(
            url or self.settings.broker_url,
            name=self.source,
            on_ready=self._on_ready,
            settings=self.settings,
        )
        self._channel: AbstractChannel | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._resources: list[Callable[[], Awaitable[object]]] = []
        self.metrics_port = metrics_port
        self.metrics = AdapterMetrics(str(descriptor.ref))
        self.metrics.gauge(
            "splp_adapter_in_flight", "Requests being handled.", lambda: len(self._in_flight)
        )
        self.metrics.gauge(
            "splp_adapter_audit_backlog",
            "Audit events not yet confirmed by the broker.",
            lambda: self.audit.backlog,
        )
        self._meta = {
            "theme": descriptor.theme,
            "publisher": descriptor.publisher,
            "service": descriptor.service,
            "major": descriptor.major,
        }

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def start(self) -> None:
        """Connect and start consuming; reconnects by itself after a broker loss."""
        self._stopping = False
        if self.grants is not None:
            await self.grants.start()
        await self._connection.start()
        if self.metrics_port:
            self.owns(MetricsServer(self.metrics.registry, "127.0.0.1", self.metrics_port).close)

    async def stop(self, grace: float = 30.0) -> None:
        """Stop consuming, let requests in flight finish (up to ``grace`` s), then disconnect."""
        self._stopping = True
        channel, tag = self._channel, self._consumer_tag
        if channel is not None and tag is not None and not channel.is_closed:
            with contextlib.suppress(aiormq.exceptions.AMQPError, RuntimeError):
                await channel.basic_cancel(tag)
        loop = asyncio.get_running_loop()
        end = loop.time() + grace
        while self._in_flight and loop.time() < end:
            await asyncio.wait(set(self._in_flight), timeout=end - loop.time())
        if self._in_flight:
            log.warning("%s: %d requests still running at shutdown", self.source, self.in_flight)
        await self.audit.flush(timeout=max(0.5, end - loop.time()))
        await self.audit.close()
        await self._connection.close()
        if self.grants is not None:
            await self.grants.stop()
        for close in reversed(self._resources):
            await close()
        self._resources.clear()

    def owns(self, close: Callable[[], Awaitable[object]]) -> None:
        """Have :meth:`stop` call ``close`` last (e.g. the HTTP client of the handlers)."""
        self._resources.append(close)

    async def __aenter__(self) -> Adapter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self, grace: float = 30.0) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            log.info("%s: consuming %s (prefetch %d)", self.source, self.queue, self.prefetch)
            await stop.wait()
            log.info("%s: stopping", self.source)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop(grace)

    async def _on_ready(self, connection: AbstractConnection) -> None:
        await self.audit.attach(connection)
        channel = await connection.channel(publisher_confirms=False)
        if self.declare_topology:
            binding = ServiceBinding(self.descriptor.theme, self.descriptor.ref)
            await declare(channel, topology_for([binding], queue_type=self.settings.queue_type))
        await channel.basic_qos(prefetch_count=self.prefetch)
        if self._stopping:
            return
        consume = await channel.basic_consume(self.queue, self._on_message, no_ack=False)
        self._channel, self._consumer_tag = channel, consume.consumer_tag

    async def _on_message(self, message: DeliveredMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            await self._handle(message)
        except (aiormq.exceptions.AMQPError, RuntimeError, ConnectionError) as exc:
            # The channel died under us; the broker will redeliver the unacked request.
            log.warning("%s: could not finish a request: %r", self.source, exc)
        finally:
            self._in_flight.discard(task)

    async def _handle(self, message: DeliveredMessage) -> None:
        started = time.perf_counter()
        props = message.header.properties
        delivery = message.delivery
        assert isinstance(delivery, aiormq.spec.Basic.Deliver)
        assert delivery.delivery_tag is not None  # always set on a delivery
        # the concrete channel: its publish and ack take ``wait`` (the abstract class omits it)
        channel = cast(aiormq.Channel, message.channel)
        meta = {
            **self._meta,
            "requester": props.user_id,
            "message_id": props.message_id,
            "correlation_id": props.correlation_id,
            "request_bytes": len(message.body),
        }
        deadline = deadline_of(props)
        reply_to = props.reply_to
        expired = deadline is not None and deadline < time.time()
        if expired or not reply_to or not reply_to.startswith(DIRECT_REPLY_TO):
            # Replying to a named queue would let a caller push a service's data into any
            # queue of the vhost; requesters can only receive through direct reply-to.
            await channel.basic_reject(delivery.delivery_tag, requeue=False)
            reason = "expired" if expired else "bad-reply-to" if reply_to else "no-reply-to"
            self.metrics.dropped(reason)
            self.audit.emit(audit_event("dropped", self.source, reason=reason, **meta))
            return

        operation = self._routing_keys.get(delivery.routing_key or "")
        status, body, kind = await self._answer(message, operation, deadline)
        # Both frames go through the channel's ordered write queue, so the broker sees the
        # reply before the ack without this task waiting for the socket to drain.
        await channel.basic_publish(
            body,
            exchange="",
            routing_key=reply_to,
            properties=reply_properties(props.correlation_id, status),
            wait=False,
        )
        await channel.basic_ack(delivery.delivery_tag, wait=False)
        seconds = time.perf_counter() - started
        self.metrics.answered(operation, status, kind, seconds)
        self.audit.emit(
            audit_event(
                kind,
                self.source,
                operation=operation,
                status=status,
                duration_ms=round(seconds * 1000, 3),
                response_bytes=len(body),
                **meta,
            )
        )

    async def _answer(
        self, message: DeliveredMessage, operation: str | None, deadline: float | None
    ) -> tuple[int, bytes, str]:
        """Status, body and audit kind of the reply to ``message``."""
        try:
            result = await self._dispatch(message, operation, deadline)
        except Throttled as problem:
            return problem.status, dumps(problem.body), "throttled"
        except Problem as problem:
            return problem.status, dumps(problem.body), _kind(problem.status)
        except Exception:
            log.exception("%s: handler for %s failed", self.source, operation)
            failure = Problem.of(InternalError, "the service failed to handle the request")
            return failure.status, dumps(failure.body), "response"
        try:
            return 200, dumps(result), "response"
        except TypeError:
            log.error(
                "%s: handler for %s returned a value that is not JSON", self.source, operation
            )
            failure = Problem.of(InternalError, "the service returned a value that is not JSON")
            return failure.status, dumps(failure.body), "response"

    async def _dispatch(
        self, message: DeliveredMessage, operation: str | None, deadline: float | None
    ) -> Any:
        delivery = message.delivery
        assert isinstance(delivery, aiormq.spec.Basic.Deliver)
        if delivery.exchange != self.exchange:
            raise Problem.forbidden(f"requests must be published to {self.exchange}")
        props = message.header.properties
        if not props.user_id:
            raise Problem.forbidden("the request carries no user_id, so no caller is known")
        if operation is None:
            raise Problem.not_found(
                f"{delivery.routing_key!r} is not an operation of {self.descriptor.ref}"
            )
        protocol = (props.headers or {}).get(HEADER_PROTOCOL, PROTOCOL_VERSION)
        if protocol != PROTOCOL_VERSION:
            raise Problem.bad_request(
                f"splp-protocol {protocol!r} is not supported (this adapter speaks 1)"
            )
        if self.admission is not None:
            self.admission.check(props.user_id, operation)
        limit = self.settings.max_body_bytes
        if len(message.body) > limit:
            raise Problem.of(
                PayloadTooLarge, f"the body is {len(message.body)} bytes; the limit is {limit}"
            )
        try:
            payload = loads(message.body)
        except ContractError as exc:
            raise Problem.bad_request(str(exc)) from None
        request_validator, response_validator = self.descriptor.validators[operation]
        errors = schema_errors(request_validator, payload)
        if errors:
            raise Problem.of(
                SchemaViolation,
                f"the request does not match the schema of {operation}",
                errors=errors,
            )
        request = Request(
            message_id=props.message_id or "",
            correlation_id=props.correlation_id or "",
            reply_to=props.reply_to,
            requester=props.user_id,
            operation=operation,
            deadline=deadline,
            traceparent=_text((props.headers or {}).get(HEADER_TRACEPARENT)),
            redelivered=bool(delivery.redelivered),
            body=message.body,
        )
        result = await self.handlers[operation](payload, request)
        if schema_errors(response_validator, result):
            log.error("%s: response of %s does not match its schema", self.source, operation)
            raise Problem.of(
                InternalError, f"the service's response to {operation} broke its schema"
            )
        return result


def _kind(status: int) -> str:
    return "denied" if status == 403 else "response"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
