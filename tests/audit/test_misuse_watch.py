"""The control plane's misuse watch end to end: a requester party's own broker user
enumerates NIKs through the real bus, the real sink stores the adapter's events, and one
check of the watch raises the hit, suspends the party's grant pending review, records
both in the audit outbox, and alerts the administrators by webhook (a real HTTP server on
the loopback) and by e-mail (a real SMTP server on the loopback). A second check raises
nothing new; an administrator records a follow-up."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route

from splp.adapters import Adapter
from splp.audit import AuditSink, AuditStore, screen
from splp.bus import Client, Request
from splp.bus.descriptor import load_descriptor
from splp.bus.wire import Problem
from splp.control_plane import close_app, create_app
from splp.control_plane.app import misuse_watch
from splp.directory_service import Store
from splp.errors import NotFound
from splp.http_server import serve_app
from splp.settings import Settings
from tests.audit.conftest import trusting
from tests.audit.test_sink import running, wait_count
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.directory.conftest import DEMO, directory_settings
from tests.directory.test_notify import PASSWORD, Inbox, smtp  # noqa: F401
from tests.logcapture import SECRETS

KNOWN = "3509010101900001"


async def get_by_nik(payload: Any, request: Request) -> Any:
    if payload["nik"] != KNOWN:
        raise Problem.not_found("no resident with that NIK")
    return {"nik": KNOWN, "name": "Siti", "village": "Sukamaju"}


class Webhook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: HttpRequest) -> Response:
        self.received.append(await request.json())
        return Response(status_code=204)


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[Webhook, str]]:
    hook = Webhook()
    async with serve_app(hook.app) as url:
        yield hook, f"{url}/hook"


@pytest.fixture
async def party_user(
    management: httpx.AsyncClient, broker: Settings
) -> AsyncIterator[tuple[str, Settings]]:
    """The requester party ``dinsos``'s own broker user, under a prefix of this test."""
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    name, password = f"{prefix}dinsos", SECRETS.add(uuid.uuid4().hex, "broker password")
    vhost = quote(broker.vhost, safe="")
    await management.put(f"/api/users/{name}", json={"password": password, "tags": ""})
    permissions = {"configure": "^$", "write": ".*", "read": "^$"}
    (await management.put(f"/api/permissions/{vhost}/{name}", json=permissions)).raise_for_status()
    try:
        yield prefix, Settings(amqp_url=f"amqp://{name}:{password}@127.0.0.1:5672/{vhost}")
    finally:
        await management.delete(f"/api/users/{name}")


async def test_a_hit_suspends_records_and_alerts(
    store: Store,
    parties: dict[str, str],
    smtp: tuple[Inbox, int],  # noqa: F811
    webhook: tuple[Webhook, str],
    party_user: tuple[str, Settings],
    broker: Settings,
    sink_queue: str,
    make_adapter: Callable[..., Awaitable[Adapter]],
    tmp_path: Path,
) -> None:
    inbox, smtp_port = smtp
    hook, hook_url = webhook
    prefix, requester = party_user
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {rule: not_found, ratio: 0.5, min_calls: 10, suspend: true}\n")
    settings = directory_settings(
        store.url,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        misuse_rules=rules,
        misuse_webhook_url=hook_url,
        broker_user_prefix=prefix,
    )
    app = create_app(settings, store=store)
    admin = {"Authorization": f"Bearer {parties['admin']}"}
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://d", headers=admin) as api:
        person = {"party": "admin", "email": "admin@kominfo.go.id", "name": "Admin"}
        made = (await api.post("/users", json={**person, "roles": ["administrator"]})).json()
        body = {"token": made["setup_token"], "password": PASSWORD}
        assert (await api.post("/auth/set-password", json=body)).status_code == 204
        document = __import__("yaml").safe_load((DEMO / "penduduk.yaml").read_text())
        as_ = {p: {"Authorization": f"Bearer {t}"} for p, t in parties.items()}
        assert (await api.post("/services", json=document, headers=as_["dukcapil"])).is_success
        asked = await api.post(
            "/access-requests",
            json={"service": "dukcapil.penduduk.v1", "reason": "bansos", **STATEMENT},
            headers=as_["dinsos"],
        )
        request_id = asked.json()["id"]
        for step, party in (("approve", "admin"), ("grant", "dukcapil")):
            path = f"/access-requests/{request_id}/{step}"
            terms = NOTE if step == "approve" else grant_terms()
            answer = await api.post(path, json={"reason": "ok", **terms}, headers=as_[party])
            assert answer.status_code == 200, answer.text

        await make_adapter(load_descriptor(DEMO / "penduduk.yaml"), {"get-by-nik": get_by_nik})
        audit = AuditStore(store.url)
        # the test bench's adapter runs as the broker's administrator
        sink = AuditSink(
            AuditStore(store.url), broker.broker_url, queue=sink_queue, settings=trusting(broker)
        )
        async with running(sink), Client(requester) as client:
            for n in range(12):
                nik = KNOWN if n % 3 == 0 else f"35090101018{n:05d}"
                with contextlib.suppress(NotFound):
                    await client.call(
                        "kependudukan", "dukcapil.penduduk.v1", "get-by-nik", {"nik": nik}
                    )
            assert await wait_count(audit, 12) == 12
        await sink.store.close()
        await audit.close()

        watch = misuse_watch(app)
        [raised] = await watch.check()
        hit = raised.hit
        assert (hit["rule"], hit["requester"]) == ("not_found", f"{prefix}dinsos")
        assert hit["service"] == "dukcapil.penduduk.v1" and hit["suspended"] == [request_id]
        assert hit["figures"] == {"calls": 12, "not_found": 8, "ratio": round(8 / 12, 4)}
        state = (await api.get(f"/access-requests/{request_id}")).json()["state"]
        assert state == "suspended"
        events = {e["kind"]: e for e in await app.state.events.pending()}
        assert events["admin.misuse-hit"]["hit_id"] == hit["id"]
        assert events["admin.misuse-hit"]["not_found"] == 8
        assert events["access.suspend"]["request_id"] == request_id
        assert events["access.suspend"]["actor"] == "splp-misuse-rules"
        for event in events.values():  # valid audit events, stored unflagged by the sink
            assert screen(event)[1] is None, event

        [alert] = hook.received
        assert (alert["hit_id"], alert["rule"], alert["suspended_requests"]) == (
            hit["id"],
            "not_found",
            [request_id],
        )
        [(to, mail)] = [(t, m) for t, m in inbox.mails if "penyalahgunaan" in m["Subject"]]
        assert to == ["admin@kominfo.go.id"]
        assert f"#{hit['id']}" in mail["Subject"]
        assert f"splp supervision note {hit['id']}" in mail.get_content()
        assert KNOWN not in mail.get_content()

        assert await watch.check() == []  # raised once
        assert len(hook.received) == 1
    await close_app(app)


async def test_the_served_directory_runs_the_watch(
    store: Store, parties: dict[str, str], tmp_path: Path
) -> None:
    """The wiring: the served directory evaluates the rules on its own timer (the event
    is stored directly here; the rules' own tests send theirs through the broker)."""
    from splp.audit.broker_events import broker_event
    from splp.directory_service.supervision import hits_between

    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"rule": "failed_logins", "min_failures": 1}]}')
    failure = broker_event(
        "user.authentication.failure", {"name": "intruder", "error": list(b"invalid")}
    )
    audit = AuditStore(store.url)
    await audit.append([screen(failure)])
    await audit.close()
    settings = directory_settings(store.url, misuse_rules=rules, misuse_interval=0.1)
    app = create_app(settings, store=Store(store.url))
    found: list[dict[str, Any]] = []
    async with app.router.lifespan_context(app):  # what uvicorn runs at start and stop
        for _ in range(100):
            async with store.sessions() as session:
                since = datetime.now(UTC) - timedelta(days=1)
                found = await hits_between(session, since, datetime.now(UTC) + timedelta(days=1))
            if found:
                break
            await asyncio.sleep(0.1)
    assert [(h["rule"], h["requester"]) for h in found] == [("failed_logins", "intruder")]
