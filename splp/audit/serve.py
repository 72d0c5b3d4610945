"""Running the sink as a process: signals, and ``/metrics`` on a port of its own."""

from __future__ import annotations

import asyncio
import signal

from splp.audit.anchors import Anchoring
from splp.audit.sink import AuditSink
from splp.audit.store import AuditStore
from splp.metrics import MetricsServer
from splp.settings import Settings


async def serve_sink(settings: Settings, *, queue: str, batch_size: int, metrics_port: int) -> None:
    """Run the sink (and the broker events' recorder, see
    :mod:`splp.audit.broker_events`) until SIGINT or SIGTERM; what they received by then
    is stored first."""
    store = AuditStore(settings.audit_store_url)
    sink = AuditSink(
        store,
        settings.broker_urls,
        queue=queue,
        batch_size=batch_size,
        settings=settings,
        anchoring=Anchoring.from_settings(store, settings),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server: MetricsServer | None = None
    if metrics_port:
        server = MetricsServer(sink.metrics.registry, "127.0.0.1", metrics_port)
    recorders = []
    if settings.broker_events_url:
        from splp.audit.broker_events import BrokerEvents

        events = settings.model_copy(update={"vhost": settings.broker_events_vhost})
        recorder = BrokerEvents(store, events.broker_urls, settings=settings)
        recorders.append(asyncio.create_task(recorder.run(stop), name="splp-broker-events"))
    try:
        await sink.run(stop)
        await asyncio.gather(*recorders)
    finally:
        for task in recorders:
            task.cancel()
        if server is not None:
            await server.close()
        await store.close()
