"""The audit sink: consumes ``splp.audit.sink`` and stores every event once, in order.

Deliveries are decoded and screened as they arrive and collected into a batch; the batch
is written in one transaction when it holds ``batch_size`` events or ``linger`` seconds
after its first delivery. Only after the commit are its messages acknowledged, with one
multiple-ack up to the batch's last delivery tag. If the sink dies before the ack, the
broker delivers the messages again, and the store leaves out the events it already holds
(see :mod:`splp.audit.store`): a restart neither loses nor repeats an event.

While the store is unreachable the batch is retried with back-off. The writer runs under
:func:`~splp.retry.keep_running`: should the store raise anything else, the batch is put
back at the front of the events waiting (its messages still unacknowledged), the error is
logged and counted, and the writer starts again and writes it first. A batch that the store
refuses for its data (a NUL character on PostgreSQL, a value out of range) is cut in
halves until the refused events stand alone: the others are stored, and each refused one
becomes a ``rejected`` record in the chain (see :mod:`splp.audit.rejected`), so one bad
event neither stalls the sink nor goes missing.

Every event is stored with the message's ``user_id`` as its sender, which the broker has
validated, and with what is wrong if that sender may not speak for the event (see
:mod:`splp.audit.provenance`). With a signing key, the sink signs its head every N
records or M minutes (see :mod:`splp.audit.anchors`).

>>> sink = AuditSink(AuditStore("sqlite+aiosqlite:///audit.db"), "amqp://127.0.0.1/splp")
>>> await sink.run(stop)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage
from sqlalchemy.exc import SQLAlchemyError

from splp.audit.anchors import Anchoring
from splp.audit.metrics import SinkMetrics
from splp.audit.provenance import SenderRules, Sent
from splp.audit.rejected import is_rejection, rejected
from splp.audit.screen import screen, undecodable
from splp.audit.store import AuditStore, Entry
from splp.bus.audit_events import decode_audit_message
from splp.bus.connection import BrokerConnection
from splp.bus.names import AUDIT_EXCHANGE, AUDIT_SINK_QUEUE
from splp.errors import ContractError
from splp.log import get_logger
from splp.retry import keep_running, retry_until_done
from splp.settings import Settings

log = get_logger("audit.sink")

RETRY_SECONDS = (0.2, 10.0)
STOP_GRACE = 30.0
"""Seconds a stopping sink keeps trying to store what it received; after that what is left
stays unacknowledged, so the broker delivers it again to the next sink."""


@dataclass
class Batch:
    """Events waiting for the next commit, and the deliveries (tag, events) they came in."""

    channel: AbstractChannel
    events: list[Entry] = field(default_factory=list)
    deliveries: list[tuple[int, int]] = field(default_factory=list)
    last_tag: int = 0
    messages: int = 0
    started: float = field(default_factory=time.monotonic)


class AuditSink:
    """Consumes ``queue`` on ``broker_url`` into ``store``; see the module docstring.

    ``broker_url`` may list the nodes of a cluster (``Settings.broker_urls``): the sink fails
    over between them, and on a quorum queue it loses no event when a node goes down.
    """

    def __init__(
        self,
        store: AuditStore,
        broker_url: str | Sequence[str],
        *,
        queue: str = AUDIT_SINK_QUEUE,
        batch_size: int = 5000,
        linger: float = 0.05,
        prefetch: int = 1000,
        metrics: SinkMetrics | None = None,
        settings: Settings | None = None,
        anchoring: Anchoring | None = None,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        settings = settings or Settings()
        self.stop_grace = stop_grace
        self.store = store
        self.queue = queue
        self.batch_size = batch_size
        self.linger = linger
        self.prefetch = prefetch
        self.metrics = metrics or SinkMetrics()
        self.queue_type = settings.queue_type
        self.senders = SenderRules.from_settings(settings)
        self.anchoring = anchoring
        self._connection = BrokerConnection(
            broker_url,
            name="splp-audit-sink",
            on_ready=self._attach,
            on_lost=self._lost,
            settings=settings,
        )
        self._batch: Batch | None = None
        self._wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then store what was received and close; if the
        store still fails ``stop_grace`` seconds after ``stop``, close anyway: what was not
        stored was not acknowledged either, and is delivered again to the next sink."""
        await self.store.migrate()
        await self._connection.start()
        writer = asyncio.create_task(
            keep_running(
                lambda: self._write_loop(stop),
                what="audit sink writer",
                initial=RETRY_SECONDS[0],
                maximum=RETRY_SECONDS[1],
                logger=log,
            ),
            name="splp-audit-writer",
        )
        try:
            await stop.wait()
            self._wakeup.set()
            done, _ = await asyncio.wait({writer}, timeout=self.stop_grace)
            if not done:
                waiting = len(self._batch.events) if self._batch is not None else 0
                log.error(
                    "stopping with %d event(s) not stored after %.0f s (the store keeps "
                    "failing): they stay unacknowledged on %s for the next sink",
                    waiting,
                    self.stop_grace,
                    self.queue,
                )
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await self._connection.close()

    async def _attach(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        try:
            declared = await channel.queue_declare(self.queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            # Not set up by the reconciler yet: declare it as the topology would.
            channel = await connection.channel()
            await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
            declared = await channel.queue_declare(
                self.queue, durable=True, arguments={"x-queue-type": self.queue_type}
            )
            await channel.queue_bind(self.queue, AUDIT_EXCHANGE, routing_key="#")
        self.metrics.queue_depth.set(declared.message_count or 0)
        await channel.basic_qos(prefetch_count=self.prefetch)
        self._batch = Batch(channel)
        await channel.basic_consume(self.queue, self._on_message, no_ack=False)
        log.info("consuming %s", self.queue)

    def _lost(self, _exc: BaseException | None) -> None:
        # Unacknowledged deliveries come again on the next channel; their tags are void.
        self._batch = None

    async def _on_message(self, message: DeliveredMessage) -> None:
        batch = self._batch
        if batch is None or message.channel is not batch.channel:
            return
        delivery = message.delivery
        assert isinstance(delivery, aiormq.spec.Basic.Deliver)
        properties = message.header.properties
        sender = properties.user_id or None
        events: list[Entry]
        try:
            events = []
            for received in decode_audit_message(message.body):
                event, flag = screen(received)
                events.append((event, flag, Sent(sender, self.senders.check(event, sender))))
        except ContractError:
            event, flag = undecodable(
                delivery.routing_key or "", properties.message_id, message.body
            )
            events = [(event, flag, Sent(sender))]
        if not batch.events:
            batch.started = time.monotonic()
        batch.events.extend(events)
        batch.messages += 1
        batch.deliveries.append((delivery.delivery_tag or 0, len(events)))
        self.metrics.received.inc(len(events))
        if (
            len(batch.events) >= self.batch_size
            or batch.messages >= self.prefetch
            or len(batch.events) == len(events)
        ):
            self._wakeup.set()

    async def _write_loop(self, stop: asyncio.Event) -> None:
        while True:
            batch = self._batch
            if batch is None or not batch.events:
                if self.anchoring is not None:
                    await self._anchor(0)
                if stop.is_set():
                    if self.anchoring is not None:
                        await self._anchor(None)
                    return
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), 1.0)
                continue
            wait = batch.started + self.linger - time.monotonic()
            full = len(batch.events) >= self.batch_size or batch.messages >= self.prefetch
            if wait > 0 and not full and not stop.is_set():
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), wait)
                continue
            taken = self._take(batch)
            try:
                await self._commit(taken)
            except BaseException:
                self._put_back(taken)
                raise

    def _take(self, batch: Batch) -> Batch:
        """The first ``batch_size`` events (whole messages) of ``batch``, taken out of it."""
        taken = Batch(batch.channel)
        count = 0
        for index, (tag, size) in enumerate(batch.deliveries):
            count += size
            if count >= self.batch_size or index == len(batch.deliveries) - 1:
                taken.events, batch.events = batch.events[:count], batch.events[count:]
                taken.deliveries = batch.deliveries[: index + 1]
                batch.deliveries = batch.deliveries[index + 1 :]
                taken.last_tag, taken.messages = tag, index + 1
                batch.messages -= index + 1
                batch.started = time.monotonic()
                break
        return taken

    def _put_back(self, taken: Batch) -> None:
        """Return ``taken``, not (or not surely) stored, to the front of the events waiting,
        so the next commit writes it first; the store leaves out what it already holds.
        Its deliveries are unacknowledged: on a new channel the broker delivers them again,
        so they are put back only on the channel they came on."""
        batch = self._batch
        if batch is None or batch.channel is not taken.channel:
            return
        batch.events[:0] = taken.events
        batch.deliveries[:0] = taken.deliveries
        batch.messages += taken.messages
        batch.started = time.monotonic() - self.linger  # due at once

    async def _commit(self, batch: Batch) -> None:
        started = time.perf_counter()
        stored = await self._store(batch.events)
        self.metrics.observe_commit(time.perf_counter() - started, batch.events, stored)
        if self.anchoring is not None:
            await self._anchor(stored)
        if batch.channel.is_closed:
            return  # redelivered on the next channel; the store leaves them out then
        with contextlib.suppress(aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
            await batch.channel.basic_ack(batch.last_tag, multiple=True)

    async def _anchor(self, stored: int | None) -> None:
        """Count ``stored`` records and sign the head when due (``None``: sign now)."""
        assert self.anchoring is not None
        try:
            if stored is None:
                await self.anchoring.sign()
            else:
                await self.anchoring.after(stored)
        except (SQLAlchemyError, OSError) as exc:
            # the records are stored; the next anchor covers them
            log.warning("could not store an anchor: %r", exc)

    async def _store(self, events: list[Entry]) -> int:
        """Store ``events``; those the store refuses become ``rejected`` records.

        A refused batch is cut in halves until each refused event stands alone, so the
        good events around it are stored (in order) and the sink moves on.
        """
        try:
            return await self._append(events)
        except _Refused as refused:
            if len(events) > 1:
                middle = len(events) // 2
                return await self._store(events[:middle]) + await self._store(events[middle:])
            refused_entry = events[0]
            record = rejected((refused_entry[0], refused_entry[1]), refused.error)
        self.metrics.rejected.inc()
        log.error(
            "the store refused an event; stored a rejected record for it: %s", record[0]["reason"]
        )
        # the rejected record keeps the sender (and provenance) of the event it stands for
        sent = refused_entry[2] if len(refused_entry) == 3 else Sent(None)
        try:
            return await self._append([(record[0], record[1], sent)])
        except _Refused:
            # should the metadata itself be refused, keep the bare fact and the reason
            bare = {key: record[0][key] for key in ("id", "time", "kind", "source", "reason")}
            return await self._append([(bare, record[1], sent)])

    async def _append(self, events: list[Entry]) -> int:
        """``store.append``, retried while the store is unreachable or busy."""

        async def append() -> int:
            try:
                return await self.store.append(events)
            except Exception as exc:
                if is_rejection(exc):
                    raise _Refused(exc) from exc
                if isinstance(exc, SQLAlchemyError | OSError):
                    self.metrics.errors.inc()
                raise

        return await retry_until_done(
            append,
            on=(SQLAlchemyError, OSError),
            what="audit store write",
            initial=RETRY_SECONDS[0],
            maximum=RETRY_SECONDS[1],
            logger=log,
        )


class _Refused(Exception):
    """The store refused the data itself; retrying the same events cannot help."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(type(error).__name__)
        self.error = error
