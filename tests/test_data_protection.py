"""Data protection through the real bus (Musi Banyuasin Pasal 51, UU 27/2022).

A real directory (uvicorn, SQLite, the audit store in the same database) holds a copy of
the demo's population register, classified ``personal`` with ``subject_field: nik``.
Dinsos holds a grant restricted to the fields ``name`` and ``village``, Bapenda one for
every field. The SDK adapter and then the HTTP adapter (in front of the demo agency API)
serve it; the audit sink stores what they emit.

After a known set of calls, ``splp audit subject`` answers exactly those accesses, and
neither the audit store nor any log line (the suite's log capture searches every line
for the NIKs) holds a NIK. One request carrying a NIK expires before its adapter answers
it: the test first finds it in the dead letters (which keep bodies, for at most
``SPLP_DEAD_LETTER_TTL``), so that the NIK's absence from its audit event and from the
logs is checked against a drop that really happened. After a rotation of the subject
key, the lookup still finds the accesses recorded under the old key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiormq
import httpx
import yaml
from typer.testing import CliRunner

from splp.adapters import Service
from splp.adapters.from_directory import from_directory
from splp.adapters.http import http_adapter
from splp.adapters.http_config import load_http_config
from splp.audit import AuditStore
from splp.audit.sink import AuditSink
from splp.bus import Client, ServiceRef
from splp.bus.names import (
    AUDIT_EXCHANGE,
    DEAD_LETTER_QUEUE,
    DIRECT_REPLY_TO,
    routing_key_for,
    theme_exchange,
)
from splp.bus.topology import ServiceBinding, declare, topology_for
from splp.bus.wire import HEADER_DEADLINE, HEADER_PROTOCOL, Problem
from splp.cli import app as cli
from splp.control_plane import close_app, create_app, migrate
from splp.demo.agency import RESIDENTS
from splp.demo.agency import create_app as create_agency
from splp.directory_service import Store
from splp.directory_service.catalog import create_theme
from splp.directory_service.parties import create_party
from splp.http_server import serve_app
from splp.settings import Settings
from tests.audit.conftest import trusting
from tests.audit.test_sink import running, wait_count
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.logcapture import SECRETS
from tests.test_adapter_grants import Directory, publisher_settings, users

__all__ = ["users"]  # the fixture, used here

DEMO = Path(__file__).resolve().parents[1] / "splp" / "demo"
REF = ServiceRef("uji", "penduduk-dp", 1)
SIAK_A, SIAK_B = list(RESIDENTS)
for _nik in RESIDENTS:
    SECRETS.add(_nik, "NIK")  # every log line of the suite is searched for them
PARTIES = {
    "admin": ["administrator"],
    "uji": ["publisher"],
    "dinsos": ["requester"],
    "bapenda": ["requester"],
    "inspektorat": ["monitor"],
}


@contextlib.asynccontextmanager
async def personal_directory(tmp_path: Path) -> AsyncIterator[Directory]:
    """The register published by ``uji``; dinsos granted name and village, bapenda all."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}"
    settings = Settings(
        database_url=url, amqp_url="amqp://guest:guest@127.0.0.1:1/", broker_reconcile=False
    )
    await migrate(settings)
    store = Store(url)
    tokens = {}
    async with store.session() as session:
        for name, roles in PARTIES.items():
            _party, tokens[name] = await create_party(session, name, roles)
        await create_theme(session, "uji", "Tests", "")
    document = yaml.safe_load((DEMO / "penduduk.yaml").read_text(encoding="utf-8"))
    document.update(publisher=REF.publisher, service=REF.service, theme="uji")
    app = create_app(settings, store=store)
    async with serve_app(app) as directory_url, httpx.AsyncClient() as http:
        directory = Directory(directory_url, tokens, http)
        await directory.step("uji", "POST", "/services", document)
        for requester, fields in (("dinsos", ["name", "village"]), ("bapenda", None)):
            body = {"service": str(REF), "reason": "tests", **STATEMENT}
            request = await directory.step(requester, "POST", "/access-requests", body)
            path = f"/access-requests/{request['id']}"
            await directory.step("admin", "POST", f"{path}/approve", {"reason": "ok", **NOTE})
            terms: dict[str, Any] = {"reason": "ok", **grant_terms()}
            if fields is not None:
                terms["fields"] = fields
            await directory.step("uji", "POST", f"{path}/grant", terms)
        directory.app = app  # type: ignore[attr-defined]
        directory.store_url = url  # type: ignore[attr-defined]
        yield directory
    await close_app(app)
    await store.close()


@contextlib.asynccontextmanager
async def audit_sink(broker: Settings, store_url: str) -> AsyncIterator[AuditStore]:
    """The audit sink on a queue of its own that gets this service's events."""
    queue = f"splp.audit.test-{uuid.uuid4().hex[:8]}"
    connection = await aiormq.connect(broker.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    await channel.queue_declare(queue, durable=True)
    await channel.queue_bind(queue, AUDIT_EXCHANGE, routing_key=f"*.uji.uji.{REF.service}")
    store = AuditStore(store_url)
    # the test bench's adapter runs as the broker's administrator
    sink = AuditSink(
        AuditStore(store_url), broker.broker_url, queue=queue, settings=trusting(broker)
    )
    try:
        async with running(sink):
            yield store
    finally:
        await sink.store.close()
        await channel.queue_delete(queue)
        await connection.close()
        await store.close()


async def get_by_nik(payload: dict[str, Any], _request: Any) -> Any:
    resident = RESIDENTS.get(payload["nik"])
    if resident is None:
        raise Problem.not_found("no resident with that NIK")
    return resident


async def lookup(directory: Directory, party: str, value: str) -> tuple[int, str]:
    """``splp audit subject`` as ``party``: its exit code and output."""
    args = ["audit", "subject", "--service", "uji.penduduk-dp", "--value", value, "--json"]
    args += ["--directory-url", directory.url, "--token", directory.tokens[party]]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    return result.exit_code, result.output


async def dead_letters(management: httpx.AsyncClient, broker: Settings) -> list[dict[str, Any]]:
    """The messages in ``splp.dead-letters`` (``payload``, ``properties``), left in place."""
    vhost = quote(broker.vhost, safe="")
    response = await management.post(
        f"/api/queues/{vhost}/{DEAD_LETTER_QUEUE}/get",
        json={"count": 10_000, "ackmode": "ack_requeue_true", "encoding": "auto"},
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return list(response.json())


async def forget_dead_letters(management: httpx.AsyncClient, broker: Settings) -> None:
    """Empty ``splp.dead-letters`` of the session's vhost: earlier tests expire requests
    that carry the demo NIKs on purpose, and the queue keeps them for its TTL (minutes)."""
    vhost = quote(broker.vhost, safe="")
    response = await management.delete(f"/api/queues/{vhost}/{DEAD_LETTER_QUEUE}/contents")
    assert response.status_code in (204, 404), response.text


async def test_both_adapters_strip_fields_and_the_subject_log_answers_exactly(
    broker: Settings,
    management: httpx.AsyncClient,
    users: dict[str, Settings],
    tmp_path: Path,
) -> None:
    await forget_dead_letters(management, broker)  # what is found at the end is this test's
    async with personal_directory(tmp_path) as directory:
        settings = publisher_settings(broker, directory, users, tmp_path / "cache")
        store_url: str = directory.store_url  # type: ignore[attr-defined]
        replies: list[tuple[str, str, dict[str, Any]]] = []
        async with audit_sink(broker, store_url) as store:
            service = await Service.from_directory(REF, settings)
            service.operation("get-by-nik")(get_by_nik)
            async with (
                service.adapter(settings, declare_topology=True),
                Client(users["dinsos"]) as dinsos,
                Client(users["bapenda"]) as bapenda,
            ):
                for who, client, nik in (
                    ("dinsos", dinsos, SIAK_A),
                    ("bapenda", bapenda, SIAK_A),
                    ("dinsos", dinsos, SIAK_B),
                ):
                    reply = await client.call("uji", REF, "get-by-nik", {"nik": nik})
                    replies.append(("sdk", who, reply))
                expired_id = await send_expired(users["dinsos"], SIAK_B)

            config, _ = load_http_config(DEMO / "adapter.yaml")
            async with serve_app(create_agency()) as agency_url:
                config.base_url = agency_url
                descriptor, grants = await from_directory(REF, settings)
                adapter = http_adapter(config, descriptor, settings, grants=grants)
                async with (
                    adapter,
                    Client(users["dinsos"]) as dinsos,
                    Client(users["bapenda"]) as bapenda,
                ):
                    for who, client, nik in (
                        ("dinsos", dinsos, SIAK_A),
                        ("bapenda", bapenda, SIAK_B),
                    ):
                        reply = await client.call("uji", REF, "get-by-nik", {"nik": nik})
                        replies.append(("http", who, reply))
            assert await wait_count(store, 6) == 6  # five answers and the drop

        # field-level minimisation, in both kinds of adapter
        full = sorted(RESIDENTS[SIAK_A])
        assert [(kind, who, sorted(reply)) for kind, who, reply in replies] == [
            ("sdk", "dinsos", ["name", "village"]),
            ("sdk", "bapenda", full),
            ("sdk", "dinsos", ["name", "village"]),
            ("http", "dinsos", ["name", "village"]),
            ("http", "bapenda", full),
        ]
        assert replies[0][2] == {"name": "Siti Aminah", "village": "Sungai Binjai"}

        # the subject access log answers exactly the accesses made
        user = {party: users[party].username for party in ("dinsos", "bapenda")}
        code, output = await lookup(directory, "inspektorat", SIAK_A)
        assert code == 0, output
        found = json.loads(output)
        assert [(a["requester"], a["fields"], a["status"]) for a in found["accesses"]] == [
            (user["dinsos"], ["name", "village"], 200),
            (user["bapenda"], full, 200),
            (user["dinsos"], ["name", "village"], 200),
        ]
        assert all(a["service"] == str(REF) and a["time"] for a in found["accesses"])
        code, output = await lookup(directory, "admin", SIAK_B)
        assert code == 0, output
        assert [a["requester"] for a in json.loads(output)["accesses"]] == [
            user["dinsos"],
            user["bapenda"],
        ]
        code, output = await lookup(directory, "admin", "1508019999999999")
        assert code == 0 and json.loads(output)["accesses"] == []
        code, output = await lookup(directory, "dinsos", SIAK_A)  # requesters may not ask
        assert code == 3, output

        # each lookup is itself audited, without the value
        buffer = await directory.app.state.events.pending()  # type: ignore[attr-defined]
        lookups = [e for e in buffer if e["kind"] == "admin.subject-lookup"]
        assert [(e["actor"], e["accesses"]) for e in lookups] == [
            ("inspektorat", 3),
            ("admin", 2),
            ("admin", 0),
        ]

        # the expired request is in the dead letters, with its body: the checks below
        # look at a drop that happened, not at an empty queue
        letters = await dead_letters(management, broker)
        assert len(letters) == 1, f"{len(letters)} dead letters, not the expired request"
        dead = letters[0]
        assert dead["properties"]["message_id"] == expired_id
        assert [d["reason"] for d in dead["properties"]["headers"]["x-death"]] == ["rejected"]
        assert json.loads(dead["payload"]) == {"nik": SIAK_B}

        # no NIK in the audit store (the raw SQLite file), whose drop event is there, nor
        # in the directory's events; the log lines, the drop's included, are searched by
        # the suite's log capture (SECRETS)
        database = Path(store_url.split(":///", 1)[1])
        raw = b"".join(
            p.read_bytes()
            for p in (database, *(database.with_name(database.name + s) for s in ("-wal",)))
            if p.exists()
        )
        assert b'"subject":"k1:' in raw and b'"fields":["name","village"]' in raw
        assert b'"reason":"expired"' in raw and expired_id.encode() in raw
        text = json.dumps(list(buffer))
        for nik in RESIDENTS:
            assert nik.encode() not in raw, "a NIK is in the audit store"
            assert nik not in text, "a NIK is in an event of the directory"


async def test_a_subject_lookup_finds_the_accesses_recorded_before_a_key_rotation(
    broker: Settings, users: dict[str, Settings], tmp_path: Path
) -> None:
    """An access recorded under the first subject key, and one under the key that
    replaced it: ``splp audit subject`` finds both, the older key being kept for lookups."""
    async with personal_directory(tmp_path) as directory:
        settings = publisher_settings(broker, directory, users, tmp_path / "cache")
        store_url: str = directory.store_url  # type: ignore[attr-defined]
        async with audit_sink(broker, store_url) as store:
            for count in (1, 2):
                service = await Service.from_directory(REF, settings)
                service.operation("get-by-nik")(get_by_nik)
                async with (
                    service.adapter(settings, declare_topology=True),
                    Client(users["dinsos"]) as dinsos,
                ):
                    await dinsos.call("uji", REF, "get-by-nik", {"nik": SIAK_A})
                assert await wait_count(store, count) == count
                if count == 1:
                    await directory.step("admin", "POST", "/subject-keys/rotate")
        database = Path(store_url.split(":///", 1)[1])
        raw = b"".join(
            p.read_bytes()
            for p in (database, database.with_name(database.name + "-wal"))
            if p.exists()
        )
        assert b'"subject":"k1:' in raw and b'"subject":"k2:' in raw  # one under each key
        code, output = await lookup(directory, "inspektorat", SIAK_A)
        assert code == 0, output
        found = json.loads(output)
        assert found["keys"] == 2
        assert [a["requester"] for a in found["accesses"]] == [users["dinsos"].username] * 2


async def send_expired(requester: Settings, nik: str) -> str:
    """Publish, as ``requester``, a lookup of ``nik`` whose deadline has passed: its
    adapter drops it to the dead letters unanswered. Returns its message id."""
    message_id = uuid.uuid4().hex
    connection = await aiormq.connect(requester.broker_url)
    try:
        channel = await connection.channel()
        await channel.basic_consume(DIRECT_REPLY_TO, lambda _m: None, no_ack=True)
        await channel.basic_publish(
            json.dumps({"nik": nik}).encode(),
            exchange=theme_exchange("uji"),
            routing_key=routing_key_for(REF, "get-by-nik"),
            properties=aiormq.spec.Basic.Properties(
                message_id=message_id,
                correlation_id=message_id,
                reply_to=DIRECT_REPLY_TO,
                user_id=requester.username,
                headers={HEADER_PROTOCOL: 1, HEADER_DEADLINE: int((time.time() - 1) * 1000)},
            ),
        )
    finally:
        await connection.close()
    return message_id


async def test_dead_letters_expire_after_the_configured_ttl(
    broker: Settings, management: httpx.AsyncClient
) -> None:
    """A request that expired in its queue dead-letters with its body (it may hold a NIK)
    and is gone from ``splp.dead-letters`` after ``SPLP_DEAD_LETTER_TTL`` seconds."""
    vhost = f"splp-test-dlx-{uuid.uuid4().hex[:8]}"
    path = quote(vhost, safe="")
    (await management.put(f"/api/vhosts/{path}")).raise_for_status()
    user = broker.username
    (
        await management.put(
            f"/api/permissions/{path}/{quote(user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )
    ).raise_for_status()
    settings = Settings(vhost=vhost, dead_letter_ttl=1)
    try:
        connection = await aiormq.connect(settings.broker_url)
        channel = await connection.channel()
        binding = ServiceBinding("uji", REF)
        topology = topology_for([binding], dead_letter_ttl_ms=settings.dead_letter_ttl * 1000)
        await declare(channel, topology)
        queue = next(q for q in topology.queues if q.name == DEAD_LETTER_QUEUE)
        assert queue.arguments["x-message-ttl"] == 1000
        body = json.dumps({"nik": SIAK_A}).encode()
        await channel.basic_publish(
            body,
            exchange="splp.theme.uji",
            routing_key=f"{REF}.get-by-nik",
            properties=aiormq.spec.Basic.Properties(expiration="1"),
        )

        async def depth() -> int:
            declared = await channel.queue_declare(DEAD_LETTER_QUEUE, passive=True)
            return int(declared.message_count or 0)

        for _ in range(100):  # it lands in the dead letters...
            if await depth() == 1:
                break
            await asyncio.sleep(0.02)
        assert await depth() == 1
        await asyncio.sleep(1.5)  # ... and is gone after the TTL
        assert await depth() == 0
        await connection.close()
    finally:
        await management.delete(f"/api/vhosts/{path}")
