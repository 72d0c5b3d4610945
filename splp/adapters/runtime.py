"""The publisher-side adapter: consume a service queue, check each request, call the handler, reply.

Every delivery goes through the same steps, in this order:

1. the checks of :func:`~splp.adapters.admission.admit` (wire protocol §6.2): a request
   that cannot be answered usefully or safely is rejected to ``splp.dlx`` and a
   ``dropped`` audit event is emitted (``denied`` when it was an injection); a refused one
   gets its problem reply and a ``denied`` (403), ``throttled`` (429) or ``response`` event;
2. the handler runs, until the request's deadline at most: then it is cancelled, and the
   request is acked without a reply (the caller has given up and raises its own timeout;
   a late reply would only race with it) and audited as a ``response`` with status 408,
   which frees its prefetch slot; a :class:`~splp.bus.wire.Problem` it raises becomes the
   reply, any other exception a 500 (logged without the payload);
3. the response is checked against the operation's response schema (500 if it fails);
4. fields the caller's grant does not list are removed from a JSON object reply, or
   from each object of a list of objects (field-level minimisation, UU 27/2022,
   :mod:`splp.adapters.minimise`); under a field list any other reply is not sent: the
   caller gets a 500, audited (the adapter fails closed);
5. the reply is published and a ``response`` event is emitted: it names the fields
   returned (names only) and, for a service with a ``subject_field``, carries the keyed
   HMAC of the data subject (:mod:`splp.bus.subject`), never the value; the request is
   acked (or, when dropped, rejected) once the broker has confirmed its audit event.

Handlers run concurrently, up to ``prefetch`` at a time. A request is settled only after
its reply was published and its audit event confirmed, so a crash before that leaves it
to another replica, or to this one after its restart. Such a request is answered again
(handlers should be idempotent, as a query is); its event has the id of the first
(:func:`~splp.bus.audit_events.call_event_id`) and the sink keeps one record per call.
When the audit buffer is full and ``SPLP_AUDIT_FAIL_CLOSED`` is set, the adapter stops
consuming (deliveries already received go back to the queue) until the broker has
confirmed half of it.

What the adapter owns (connection, audit emitter, grants, the handlers' clients) is
closed on :meth:`Adapter.stop` through one :class:`contextlib.AsyncExitStack`, so one
failing close does not leave the others open.
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

from splp.adapters.admission import (
    AdmissionRules,
    Admitted,
    Dropped,
    Incoming,
    Refused,
    Verdict,
    caller_of,
    examine,
    localized,
    screen,
)
from splp.adapters.grants import DirectoryGrants, GrantCheck, Throttled
from splp.adapters.metrics import AdapterMetrics
from splp.adapters.minimise import NotMinimisable, minimise
from splp.adapters.quota import LocalQuota, Quota, SharedQuota
from splp.bus.audit_events import AuditEmitter, audit_event, call_event_id
from splp.bus.connection import BrokerConnection
from splp.bus.descriptor import ServiceDescriptor, schema_errors
from splp.bus.federation import link_replies, partner_of_exchange
from splp.bus.names import queue_for, theme_exchange
from splp.bus.subject import subject_hmac
from splp.bus.topology import ServiceBinding, declare, topology_for
from splp.bus.wire import Problem, Request, deadline_of, dumps, reply_properties
from splp.errors import ConfigurationError, DeadlineExpired, InternalError
from splp.log import get_logger
from splp.metrics import MetricsServer
from splp.retry import keep_running
from splp.settings import Settings

log = get_logger("adapter")

NO_REPLY = b""
"""The body of an answer that is not sent: the handler outlived the caller's deadline."""

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
        self.metrics = AdapterMetrics(str(descriptor.ref))
        self.audit = AuditEmitter(
            self.settings.audit_buffer,
            fail_closed=self.settings.audit_fail_closed,
            registry=self.metrics.registry,
        )
        self.grants = grants
        self.grant_check: GrantCheck | None = None
        grant_check = None
        if grants is not None:
            self.grant_check = GrantCheck(
                grants, self.settings.broker_user_prefix, self._quota(descriptor)
            )
            grant_check = self.grant_check.check
        else:
            log.warning("%s: no grants source: only the broker checks callers", self.source)
        self.rules = AdmissionRules(
            descriptor,
            max_body_bytes=self.settings.max_body_bytes,
            grant_check=grant_check,
            user_prefix=self.settings.broker_user_prefix,
            grant_fields=self.grant_check.fields if self.grant_check is not None else None,
        )
        self._connection = BrokerConnection(
            [url] if url else self.settings.broker_urls,  # a cluster's nodes: fail over
            name=self.source,
            on_ready=self._on_ready,
            settings=self.settings,
        )
        self._channel: AbstractChannel | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._resources = contextlib.AsyncExitStack()
        self._warned_no_subject_key = False
        self._warned_quota_per_replica = False
        self.metrics_port = metrics_port
        self._paused = False
        self._resumer: asyncio.Task[None] | None = None
        self.metrics.gauge(
            "splp_adapter_in_flight", "Requests being handled.", lambda: len(self._in_flight)
        )
        self.metrics.gauge(
            "splp_adapter_audit_backlog",
            "Audit events not yet confirmed by the broker.",
            lambda: self.audit.backlog,
        )
        if self.grant_check is not None:
            quota = self.grant_check.quota
            self.metrics.gauge(
                "splp_adapter_quota_fallback",
                "1 while the shared quota store is unreachable and this replica admits its "
                "share of each quota.",
                lambda: float(quota.falling_back),
            )
        self._meta = {
            "theme": descriptor.theme,
            "publisher": descriptor.publisher,
            "service": descriptor.service,
            "major": descriptor.major,
        }

    def _quota(self, descriptor: ServiceDescriptor) -> Quota:
        """Buckets shared by the replicas (``SPLP_QUOTA_URL``), else this replica's own."""
        url = self.settings.quota_url
        if url is None:
            return LocalQuota()
        quota = SharedQuota(
            url.get_secret_value(),
            f"{self.settings.vhost}:{descriptor.ref}",
            timeout=self.settings.quota_timeout,
            replicas=self._replicas,
        )
        return quota

    async def _take_quota(self, incoming: Incoming) -> Refused | None:
        """Check 3d, for a request that passed checks 1 to 3c: a 429 when over quota."""
        if self.grant_check is None:
            return None
        operation = self.rules.operation_for(incoming.routing_key)
        assert incoming.user_id is not None and operation is not None  # screen checked
        throttled = await self.grant_check.take_quota(incoming.user_id, operation)
        return Refused(throttled) if throttled is not None else None

    async def _replicas(self) -> int:
        """The consumers of the service queue: the replicas of this adapter."""
        channel = self._channel
        if channel is None or channel.is_closed:
            raise ConnectionError("no channel to count the replicas on")
        declared = await channel.queue_declare(self.queue, passive=True)
        return int(declared.consumer_count or 1)

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
        if self._resumer is not None:
            self._resumer.cancel()
        await self.audit.flush(timeout=max(0.5, end - loop.time()))
        owned, self._resources = self._resources, contextlib.AsyncExitStack()
        async with contextlib.AsyncExitStack() as closing:  # closes in reverse order
            closing.push_async_exit(owned)  # last, newest first
            if self.grants is not None:
                closing.push_async_callback(self.grants.stop)
            if self.grant_check is not None:
                closing.push_async_callback(self.grant_check.quota.close)
            closing.push_async_callback(self._connection.close)
            closing.push_async_callback(self.audit.close)

    def owns(self, close: Callable[[], Awaitable[object]]) -> None:
        """Have :meth:`stop` call ``close`` last (e.g. the HTTP client of the handlers)."""
        self._resources.push_async_callback(close)

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
            topology = topology_for(
                [binding],
                queue_type=self.settings.queue_type,
                dead_letter_ttl_ms=self.settings.dead_letter_ttl * 1000,
            )
            await declare(channel, topology)
        await channel.basic_qos(prefetch_count=self.prefetch)
        self._channel, self._consumer_tag = channel, None
        if self._stopping or self._paused:
            return  # when paused, the resumer consumes once the audit buffer has room
        consume = await channel.basic_consume(self.queue, self._on_message, no_ack=False)
        self._consumer_tag = consume.consumer_tag
        await self._warn_of_quota_per_replica(channel)

    async def _warn_of_quota_per_replica(self, channel: AbstractChannel) -> None:
        """Warn once when another replica consumes the service queue while each replica
        keeps its own quota buckets (no ``SPLP_QUOTA_URL``): N replicas let N times a
        grant's quota through."""
        if self._warned_quota_per_replica or self.grant_check is None:
            return
        if not isinstance(self.grant_check.quota, LocalQuota):
            return
        try:
            declared = await channel.queue_declare(self.queue, passive=True)
        except (aiormq.exceptions.AMQPError, RuntimeError, ConnectionError):
            return  # the channel went away: the reconnect asks again
        consumers = int(declared.consumer_count or 0)
        if consumers > 1:
            self._warned_quota_per_replica = True
            log.warning(
                "%s: %d replicas consume %s, but quotas are per replica until SPLP_QUOTA_URL "
                "is set: each counts every grant's quota alone, so together they let %d "
                "times the quota through (docs/publisher-guide.md)",
                self.source,
                consumers,
                self.queue,
                consumers,
            )

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
        if self.audit.fail_closed and self.audit.full:
            await channel.basic_reject(delivery.delivery_tag, requeue=True)
            self._pause(channel)
            return
        incoming = _incoming(message)
        # a gateway call is the requester's: its own broker user, and via "gateway"; a call
        # over a partner's link is the partner's party's, via "link"
        requester, via = caller_of(incoming, self.rules)
        meta = {
            **self._meta,
            "requester": requester,
            "via": via,
            "message_id": props.message_id,
            "correlation_id": props.correlation_id,
            "request_bytes": len(message.body),
        }
        call_id = call_event_id(self.queue, props.user_id, props.message_id)
        verdict: Verdict = (
            screen(incoming, self.rules, time.time())
            or await self._take_quota(localized(incoming, self.rules)[0])
            or examine(incoming, self.rules)
        )
        if isinstance(verdict, Dropped):
            self.metrics.dropped(verdict.reason)
            if verdict.denied is None:
                event = audit_event(
                    "dropped", self.source, id=call_id, reason=verdict.reason, **meta
                )
            else:  # an injection that could not be answered still counts as denied
                event = audit_event(
                    "denied",
                    self.source,
                    id=call_id,
                    reason=verdict.reason,
                    status=verdict.denied.status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    response_bytes=0,
                    **meta,
                )
            self.audit.emit(event, _settle(channel, delivery.delivery_tag, ack=False))
            return

        reply_to = incoming.reply_to
        assert reply_to is not None  # admit drops a request without one
        operation = self.rules.operation_for(incoming.routing_key)
        if isinstance(verdict, Admitted):
            meta["subject"] = self._subject(verdict.payload)
        status, body, kind, fields = await self._answer(verdict, operation)
        # Both frames go through the channel's ordered write queue, so the broker sees the
        # reply before the ack without this task waiting for the socket to drain.
        if body != NO_REPLY:
            # a reply to a partner's requester goes back over the link (docs/federation.md)
            partner = partner_of_exchange(incoming.exchange)
            await channel.basic_publish(
                body,
                exchange=link_replies(partner) if partner is not None else "",
                routing_key=reply_to,
                properties=reply_properties(props.correlation_id, status),
                wait=False,
            )
        seconds = time.perf_counter() - started
        self.metrics.answered(operation, status, kind, seconds)
        self.audit.emit(
            audit_event(
                kind,
                self.source,
                id=call_id,
                operation=operation,
                status=status,
                duration_ms=round(seconds * 1000, 3),
                response_bytes=len(body),
                fields=fields,
                **meta,
            ),
            _settle(channel, delivery.delivery_tag, ack=True),
        )

    def _pause(self, channel: aiormq.Channel) -> None:
        """Fail closed: stop consuming until the audit buffer is half empty."""
        if self._paused:
            return
        self._paused = True
        log.error(
            "%s: audit buffer full (%d events): not taking requests until the broker confirms them",
            self.source,
            self.audit.backlog,
        )
        tag, self._consumer_tag = self._consumer_tag, None
        if tag is not None:
            task = asyncio.ensure_future(channel.basic_cancel(tag))
            task.add_done_callback(_ignore_failure)
        self._resumer = asyncio.create_task(self._resume(), name="splp-adapter-resume")

    async def _resume(self) -> None:
        """Consume again once the audit buffer is half empty; an error (a channel closing
        under it: ``ChannelInvalidStateError``, a ``RuntimeError``) is logged and the
        attempt made again, so the adapter never stays paused for good."""
        await keep_running(
            self._resume_once,
            what=f"{self.source}: resuming after a full audit buffer",
            kind="adapter resume",
            initial=0.1,
            maximum=5.0,
            logger=log,
        )

    async def _resume_once(self) -> None:
        await self.audit.wait_below(self.audit.max_buffer // 2)
        channel = self._channel
        if self._stopping or channel is None or channel.is_closed or self._consumer_tag:
            self._paused = False
            return  # a reconnect consumes by itself
        consume = await channel.basic_consume(self.queue, self._on_message, no_ack=False)
        if channel is not self._channel:  # a reconnect while consuming: again, on the new one
            raise ConnectionError("the channel changed while consuming again")
        self._consumer_tag, self._paused = consume.consumer_tag, False
        log.info("%s: audit buffer has room again: taking requests", self.source)

    def _subject(self, payload: Any) -> str | None:
        """The keyed HMAC of the request's data subject, when the service names one."""
        field_name = self.descriptor.subject_field
        if field_name is None or not isinstance(payload, dict) or field_name not in payload:
            return None
        key = self.grants.subject_key if self.grants is not None else None
        if key is None:
            if not self._warned_no_subject_key:
                self._warned_no_subject_key = True
                log.warning("%s: no subject key yet: events name no subject", self.source)
            return None
        return subject_hmac(key, payload[field_name])

    async def _answer(
        self, verdict: Admitted | Refused, operation: str | None
    ) -> tuple[int, bytes, str, list[str] | None]:
        """Status, body and audit kind of the reply, and the names of the fields returned."""
        if isinstance(verdict, Refused):
            return (*_problem_reply(verdict.problem), None)
        try:
            result = await self._run(verdict)
        except _PastDeadline:
            return DeadlineExpired.default_status, NO_REPLY, "response", None
        except Problem as problem:
            return (*_problem_reply(problem), None)
        except Exception:
            log.exception("%s: handler for %s failed", self.source, operation)
            failure = Problem.of(InternalError, "the service failed to handle the request")
            return failure.status, dumps(failure.body), "response", None
        try:
            result, fields = minimise(result, verdict.fields)
        except NotMinimisable as exc:
            log.error("%s: response of %s: %s", self.source, operation, exc)
            failure = Problem.of(
                InternalError, "the service's response cannot be limited to the granted fields"
            )
            return failure.status, dumps(failure.body), "response", None
        try:
            return 200, dumps(result), "response", fields
        except TypeError:
            log.error(
                "%s: handler for %s returned a value that is not JSON", self.source, operation
            )
            failure = Problem.of(InternalError, "the service returned a value that is not JSON")
            return failure.status, dumps(failure.body), "response", None

    async def _run(self, admitted: Admitted) -> Any:
        """The handler's result, checked against the operation's response schema.

        The handler is cancelled at the request's deadline: the caller has given up by
        then, and a hung handler would otherwise hold its prefetch slot for good.
        """
        operation = admitted.request.operation
        remaining = admitted.request.remaining()
        deadline = None if remaining is None else asyncio.get_running_loop().time() + remaining
        try:
            async with asyncio.timeout_at(deadline) as scope:
                result = await self.handlers[operation](admitted.payload, admitted.request)
        except TimeoutError:
            if not scope.expired():
                raise  # the handler's own timeout, not the request's deadline
            log.warning("%s: handler for %s cancelled at the deadline", self.source, operation)
            raise _PastDeadline from None
        _, response_validator = self.descriptor.validators[operation]
        if schema_errors(response_validator, result):
            log.error("%s: response of %s does not match its schema", self.source, operation)
            raise Problem.of(
                InternalError, f"the service's response to {operation} broke its schema"
            )
        return result


def _settle(
    channel: aiormq.Channel, delivery_tag: int, *, ack: bool
) -> Callable[[], Awaitable[None]]:
    """Ack (or reject to the dead letters) a request once its audit event is confirmed.

    On a channel closed meanwhile the request is delivered again: nothing to do.
    """

    async def settle() -> None:
        if channel.is_closed:
            return
        with contextlib.suppress(aiormq.exceptions.AMQPError, RuntimeError, ConnectionError):
            if ack:
                await channel.basic_ack(delivery_tag, wait=False)
            else:
                await channel.basic_reject(delivery_tag, requeue=False, wait=False)

    return settle


def _ignore_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a closed channel redelivers what it held


class _PastDeadline(Exception):
    """The handler was cancelled at the request's deadline."""


def _incoming(message: DeliveredMessage) -> Incoming:
    """What :func:`~splp.adapters.admission.admit` reads of a delivery."""
    delivery = message.delivery
    assert isinstance(delivery, aiormq.spec.Basic.Deliver)
    props = message.header.properties
    return Incoming(
        exchange=delivery.exchange or "",
        routing_key=delivery.routing_key or "",
        body=message.body,
        user_id=props.user_id,
        reply_to=props.reply_to,
        deadline=deadline_of(props),
        headers=props.headers or {},
        message_id=props.message_id,
        correlation_id=props.correlation_id,
        redelivered=bool(delivery.redelivered),
    )


def _problem_reply(problem: Problem) -> tuple[int, bytes, str]:
    kind = "throttled" if isinstance(problem, Throttled) else _kind(problem.status)
    return problem.status, dumps(problem.body), kind


def _kind(status: int) -> str:
    return "denied" if status == 403 else "response"
