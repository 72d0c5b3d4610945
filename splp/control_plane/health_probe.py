"""The health probe of the directory process: every ``SPLP_HEALTH_INTERVAL`` seconds it
looks at each published service (the latest version of each major that is not retired):

* the consumers on its queue, through the broker's management API (none: *down*);
* when the descriptor has an operation ``health``, a call of it through the bus with
  ``SPLP_HEALTH_TIMEOUT`` (a timeout or a 5xx answer: *down*).

Each change of a service's state, and its first state seen by this process, is an audit
event, ``admin.service-up`` or ``admin.service-down`` (written through the directory's
outbox); :func:`splp.audit.availability.availability` turns them into availability per
period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from splp.bus import Client
from splp.bus.management import Management
from splp.bus.names import ServiceRef, queue_for
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.models import Party, Service, ServiceVersion, Theme
from splp.directory_service.store import Store
from splp.errors import RemoteError, SplpError
from splp.log import get_logger
from splp.retry import every
from splp.settings import Settings

log = get_logger("control-plane.health")

ACTOR = "splp-health-probe"


@dataclass(frozen=True)
class Probed:
    ref: ServiceRef
    theme: str
    up: bool
    consumers: int
    cause: str | None = None


class HealthProbe:
    """Probes the published services and records their up and down transitions."""

    def __init__(self, store: Store, events: DirectoryEvents, settings: Settings) -> None:
        self.store = store
        self.events = events
        self.settings = settings
        self.states: dict[str, bool] = {}
        self.recorded = 0
        self.last_events: list[dict[str, Any]] = []
        """The audit events of the last probe (none when nothing changed)."""

    async def services(self) -> list[tuple[ServiceRef, str, set[str]]]:
        """Each published major: its reference, theme and operations."""
        latest: dict[tuple[str, str, int], tuple[str, set[str]]] = {}
        async with self.store.session() as session:
            rows = await session.execute(
                select(Party.name, Service.name, ServiceVersion, Theme.name)
                .join(Service, Service.publisher_id == Party.id)
                .join(ServiceVersion, ServiceVersion.service_id == Service.id)
                .join(Theme, Theme.id == ServiceVersion.theme_id)
                .order_by(ServiceVersion.minor, ServiceVersion.patch)
            )
            for publisher, service, version, theme in rows.all():
                key = (publisher, service, version.major)
                if version.lifecycle == "retired":
                    latest.pop(key, None)
                    continue
                latest[key] = (theme, set(version.descriptor.get("operations", {})))
        return [
            (ServiceRef(p, s, m), theme, operations)
            for (p, s, m), (theme, operations) in sorted(latest.items())
        ]

    async def probe(self) -> list[Probed]:
        """Probe every service once and record the transitions; what was seen."""
        seen: list[Probed] = []
        services = await self.services()
        if not services:
            return seen
        vhost = quote(self.settings.vhost, safe="")
        async with Management(self.settings, timeout=10) as management:
            for ref, theme, operations in services:
                queue = await management.read(
                    f"/api/queues/{vhost}/{quote(queue_for(ref), safe='')}"
                )
                consumers = int((queue or {}).get("consumers") or 0)
                probed = Probed(
                    ref, theme, consumers > 0, consumers, None if consumers else "no consumers"
                )
                if probed.up and "health" in operations:
                    cause = await self._call_health(ref, theme)
                    if cause is not None:
                        probed = Probed(ref, theme, False, consumers, cause)
                seen.append(probed)
        await self._record(seen)
        return seen

    async def _call_health(self, ref: ServiceRef, theme: str) -> str | None:
        try:
            async with Client(self.settings) as client:
                await client.call(theme, ref, "health", {}, timeout=self.settings.health_timeout)
        except RemoteError as exc:
            return f"health answered {exc.status}" if exc.status >= 500 else None
        except SplpError as exc:
            return f"health failed: {type(exc).__name__}"
        return None

    async def _record(self, seen: list[Probed]) -> None:
        changed = [p for p in seen if self.states.get(str(p.ref)) != p.up]
        self.last_events = []
        if not changed:
            return
        emitted = []
        async with self.store.sessions() as session:
            for p in changed:
                fields: dict[str, Any] = {
                    "actor": ACTOR,
                    "theme": p.theme,
                    "publisher": p.ref.publisher,
                    "service": p.ref.service,
                    "major": p.ref.major,
                    "consumers": p.consumers,
                    "cause": p.cause,
                }
                kind = "admin.service-up" if p.up else "admin.service-down"
                emitted.append(self.events.emit(session, kind, **fields))
            await session.commit()
        self.last_events = emitted
        self.recorded += len(emitted)
        for p in changed:
            self.states[str(p.ref)] = p.up
            log.info("service %s is %s", p.ref, "up" if p.up else f"down ({p.cause})")

    async def run_forever(self) -> None:
        interval = self.settings.health_interval
        await every(interval, self.probe, what="health probe", kind="health", logger=log)
