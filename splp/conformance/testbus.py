"""A throw-away bus for one conformance run: vhost, topology and two broker users.

The vhost ``splp-conformance-<hex>`` gets the topology of wire protocol §4 for the kit's
service (``dukcapil.penduduk.v1`` in theme ``kependudukan``, the doc's example), declared
with :func:`splp.bus.topology.declare` as the reconciler would. The implementation under
test connects as a publisher or a requester with exactly the permissions the reconciler
gives (docs/broker-enforcement.md); the kit itself uses the administrator's credentials
of ``SPLP_AMQP_URL`` and ``SPLP_MANAGEMENT_URL``. Everything is deleted on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import quote, urlsplit, urlunsplit

import aiormq

from splp.bus.management import Management
from splp.bus.names import AUDIT_EXCHANGE, ServiceRef, theme_exchange
from splp.bus.topology import ServiceBinding, declare, topology_for
from splp.settings import Settings

THEME = "kependudukan"
SERVICE = ServiceRef.parse("dukcapil.penduduk.v1")
OPERATION = "get-by-nik"
ROUTING_KEY = f"{SERVICE}.{OPERATION}"
QUEUE = f"splp.svc.{SERVICE}"
EXCHANGE = theme_exchange(THEME)


@dataclass(frozen=True, slots=True)
class Party:
    """A broker user of the run: its name and the URL it connects with (vhost in the path)."""

    user: str
    url: str


class TestBus:
    """``async with TestBus(settings) as bus:`` a vhost with the topology, then gone."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, settings: Settings, *, max_body_bytes: int = 4096) -> None:
        tag = secrets.token_hex(4)
        self.vhost = f"splp-conformance-{tag}"
        self.prefix = f"splp-conformance-{tag}-"
        self.max_body_bytes = max_body_bytes
        self.settings = settings.model_copy(
            update={"vhost": self.vhost, "max_body_bytes": max_body_bytes}
        )
        self._management = Management(settings)
        self._users: list[str] = []

    async def __aenter__(self) -> TestBus:
        try:
            await self._set_up()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _set_up(self) -> None:
        management = self._management
        await management.ensure_vhost(self.vhost)
        await self._permit(self.settings.username, ".*", ".*", ".*")
        connection = await aiormq.connect(self.settings.broker_url)
        try:
            topology = topology_for(
                [ServiceBinding(THEME, SERVICE)],
                queue_type=self.settings.queue_type,
                dead_letter_ttl_ms=self.settings.dead_letter_ttl * 1000,
            )
            await declare(await connection.channel(), topology)
        finally:
            await connection.close()
        publisher = re.escape(SERVICE.publisher)
        self.publisher = await self._party(
            "publisher",
            configure="^$",
            write=r"^(?:amq\.default|splp\.audit)$",
            read=rf"^splp\.svc\.{publisher}\.[a-z0-9-]+\.v[0-9]+$",
            topic=(AUDIT_EXCHANGE, rf"^[a-z0-9-]+\.[a-z0-9-]+\.{publisher}\.[a-z0-9-]+$"),
        )
        self.requester = await self._party(
            "requester",
            configure="^$",
            write=f"^{re.escape(EXCHANGE)}$",
            read="^$",
            topic=(EXCHANGE, rf"^{publisher}\.{re.escape(SERVICE.service)}\.v[0-9]+\.[a-z0-9-]+$"),
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        management = self._management
        async with management:
            with contextlib.suppress(Exception):  # best effort: never hide the run's outcome
                await management.delete_vhost(self.vhost)
            for user in self._users:
                with contextlib.suppress(Exception):
                    await management.request("DELETE", f"/api/users/{quote(user, safe='')}")

    def url_of(self, user: str, password: str) -> str:
        """A broker URL for ``user`` on the run's vhost, on the host of ``SPLP_AMQP_URL``."""
        parts = urlsplit(self.settings.amqp_url)
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        return urlunsplit(parts._replace(netloc=netloc, path="/" + quote(self.vhost, safe="")))

    async def _permit(self, user: str, configure: str, write: str, read: str) -> None:
        await self._management.request(
            "PUT",
            f"/api/permissions/{quote(self.vhost, safe='')}/{quote(user, safe='')}",
            json={"configure": configure, "write": write, "read": read},
        )

    async def _party(
        self, role: str, *, configure: str, write: str, read: str, topic: tuple[str, str]
    ) -> Party:
        user, password = self.prefix + role, secrets.token_urlsafe(18)
        await self._management.request(
            "PUT", f"/api/users/{quote(user, safe='')}", json={"password": password, "tags": ""}
        )
        self._users.append(user)
        await self._permit(user, configure, write, read)
        exchange, pattern = topic
        await self._management.request(
            "PUT",
            f"/api/topic-permissions/{quote(self.vhost, safe='')}/{quote(user, safe='')}",
            json={"exchange": exchange, "write": pattern, "read": "^$"},
        )
        return Party(user, self.url_of(user, password))


async def hold(
    settings: Settings, seconds: float | None, show: Callable[[dict[str, str]], None]
) -> None:
    """Set up a :class:`TestBus`, ``show`` its URLs, and keep it until SIGINT or SIGTERM
    (or ``seconds``), then delete it: a bus to try a client on by hand (§4)."""
    async with TestBus(settings, max_body_bytes=settings.max_body_bytes) as bus:
        show(
            {
                "vhost": bus.vhost,
                "publisher_url": bus.publisher.url,
                "requester_url": bus.requester.url,
                "max_body_bytes": str(bus.max_body_bytes),
            }
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
