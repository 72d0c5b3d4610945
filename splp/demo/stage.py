"""The demo's stage: a whole SPLP on the embedded defaults, started and taken down again.

:class:`Stage` owns everything the demo starts, so that the demo leaves nothing behind:

* a throw-away vhost ``splp-demo-<tag>`` and broker users ``demo<tag>-<party>``, made by
  the directory's reconciler and deleted at the end (a real ``splp`` vhost and its users
  are never touched);
* the directory service on a real port, with a SQLite store in a temporary folder that
  also holds the audit store and the adapters' directory cache;
* the audit sink on that vhost's ``splp.audit.sink`` queue, and the recorder of broker
  security events on a queue of its own (deleted at the end);
* the sample Dukcapil REST API on a real port.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from splp.audit.broker_events import BrokerEvents
from splp.audit.sink import AuditSink
from splp.audit.store import AuditStore
from splp.bus.directory_client import AsyncDirectoryClient
from splp.bus.management import Management
from splp.control_plane import close_app, create_app, init_stores
from splp.demo.agency import create_app as create_agency
from splp.errors import RemoteError, SplpError
from splp.http_server import serve_app
from splp.settings import Settings


class DemoFailed(SplpError):
    """A step of the demo did not turn out as the walk expects."""


@dataclass
class Stage:
    """The running parts; ``settings`` is the operator's (administrator's) view of them."""

    settings: Settings
    directory_url: str
    agency_url: str
    audit: AuditStore
    tokens: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    directories: dict[str, AsyncDirectoryClient] = field(default_factory=dict)
    app: FastAPI | None = None
    """The directory process's app (its stores and outbox, for tests that drive the health
    probe or the misuse watch by hand)."""

    async def api(self, party: str, method: str, path: str, body: Any = None) -> Any:
        """Call the directory API as ``party``; a refusal is an error (the walk is scripted)."""
        directory = self.directories.get(party)
        if directory is None:
            directory = AsyncDirectoryClient(self.directory_url, self.tokens[party])
            self.directories[party] = directory
        try:
            return await directory.request(method, path, body)
        except RemoteError as exc:
            raise DemoFailed(f"{method} {path} as {party}: {exc}") from None

    async def aclose(self) -> None:
        """Close the directory clients of the parties."""
        for directory in self.directories.values():
            await directory.aclose()
        self.directories.clear()

    async def add_party(self, name: str, roles: list[str], title: str) -> None:
        created = await self.api(
            "admin", "POST", "/parties", {"name": name, "roles": roles, "title": title}
        )
        self.tokens[name] = created["token"]
        if created.get("broker_password"):
            self.passwords[name] = created["broker_password"]

    def as_party(self, party: str, **updates: Any) -> Settings:
        """The settings an agency's own application would have: its broker user and token."""
        user = self.settings.broker_user_prefix + party
        amqp = httpx.URL(self.settings.amqp_url).copy_with(
            username=user, password=self.passwords[party]
        )
        return self.settings.model_copy(
            update={"amqp_url": str(amqp), "token": SecretStr(self.tokens[party]), **updates}
        )


@contextlib.asynccontextmanager
async def staged(base: Settings) -> AsyncIterator[Stage]:
    """Start every part (see the module docstring); stop and delete them all at the end."""
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="splp-demo-") as folder:
        database = f"sqlite+aiosqlite:///{Path(folder) / 'splp.db'}"
        settings = base.model_copy(
            update={
                "vhost": f"splp-demo-{tag}",
                "broker_user_prefix": f"demo{tag}-",
                "database_url": database,
                "broker_reconcile": True,
                "broker_sync_interval": 0,
                "cache_dir": Path(folder) / "cache",
                "grants_refresh": 0.5,
                # the HTTP gateway's broker users and token key derive from it
                "gateway_secret": SecretStr(secrets.token_urlsafe(32)),
                "gateway_refresh": 0.5,
            }
        )
        events_queue = f"splp.audit.broker-events.demo-{tag}"
        async with contextlib.AsyncExitStack() as stack:
            management = await stack.enter_async_context(Management(settings))
            await management.ensure_vhost(settings.vhost)
            stack.push_async_callback(_remove, management, settings, events_queue)

            admin_token = await init_stores(settings)
            assert admin_token is not None  # a new store has no administrator yet
            audit = AuditStore(database)
            stack.push_async_callback(audit.close)

            stop = asyncio.Event()
            recorders = [
                AuditSink(audit, settings.broker_url, settings=settings).run(stop),
                BrokerEvents(
                    audit,
                    settings.model_copy(update={"vhost": "/"}).broker_url,
                    queue=events_queue,
                    # gone a minute after the demo, even if the demo is killed
                    queue_arguments={"x-expires": 60_000},
                    settings=settings,
                ).run(stop),
            ]
            tasks = [asyncio.create_task(r, name="splp-demo-audit") for r in recorders]
            stack.push_async_callback(_stop_all, stop, tasks)

            app = create_app(settings)
            stack.push_async_callback(close_app, app)
            directory_url = await stack.enter_async_context(serve_app(app))
            agency_url = await stack.enter_async_context(serve_app(create_agency()))
            served = settings.model_copy(update={"directory_url": directory_url})
            stage = Stage(served, directory_url, agency_url, audit, app=app)
            stack.push_async_callback(stage.aclose)
            stage.tokens["admin"] = admin_token
            yield stage


async def _stop_all(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Let the audit recorders store what they received, then wait for them."""
    stop.set()
    await asyncio.gather(*tasks)


async def _remove(management: Management, settings: Settings, events_queue: str) -> None:
    """Delete the demo's broker-events queue, its vhost and its broker users; each delete
    is tried even when another failed (the first failure is raised at the end)."""
    deletes = [f"/api/queues/%2F/{quote(events_queue, safe='')}"]
    deletes.append(f"/api/vhosts/{quote(settings.vhost, safe='')}")
    users = await management.read("/api/users") or []
    prefix = settings.broker_user_prefix
    deletes += [
        f"/api/users/{quote(u['name'], safe='')}" for u in users if u["name"].startswith(prefix)
    ]
    failures: list[SplpError] = []
    for path in deletes:
        try:
            await management.request("DELETE", path)
        except SplpError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
