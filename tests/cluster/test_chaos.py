"""Chaos on the 3-node cluster under a steady load of 200 calls/s (loopback only, ~40 s).

A requester, an adapter and the audit sink, each given the three nodes
(``SPLP_AMQP_URLS``, so quorum queues), run in this process. After a few seconds of load,
the node the clients are connected to is stopped with ``rabbitmqctl -n NODE stop_app``;
later its Erlang VM is killed with ``kill -9`` of its own PID; then it is started again
and must rejoin the cluster. Meanwhile:

* every call ends in an answer or an error, never in silence (*unfinished*, target 0);
* a reply must be the answer to its own request (*wrong*, target 0);
* a call in flight may fail fast with :class:`~splp.errors.ConnectionLost` (or
  :class:`~splp.errors.ServiceUnavailable`), or time out: only the idempotent operation
  (``get-by-nik``) is retried, up to 5 times; the other (``record-visit``, one call in
  five) is reported, not retried, with how many of those the adapter executed anyway;
* *lost*: an idempotent call never answered, in spite of its retries (target 0);
* the service is restored within 10 s of the stop: from then on every call's first attempt
  is answered (the machine may be loaded: slow answers are counted, not failed);
* every audit event the adapter emitted is in the audit store (the sink consumes a quorum
  queue).

The figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from splp.adapters import Adapter
from splp.audit.records import AuditRecord
from splp.audit.sink import AuditSink
from splp.audit.store import AuditStore
from splp.bus import Client
from splp.bus.descriptor import parse_descriptor
from splp.errors import ConnectionLost, RequestTimeout, ServiceUnavailable
from splp.settings import Settings
from tests.cluster_nodes import NODES, Cluster

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "splp" / "demo"
RATE = 200  # calls per second
TIMEOUT = 8.0  # seconds a call may wait (also across a reconnect)
RETRIES = 5
IDEMPOTENT = "get-by-nik"
WRITE = "record-visit"
RESTORE_TARGET = 10.0
SLOW = 1.0  # a first attempt slower than this is not "service as usual"


@dataclass
class Outcome:
    started: float
    ended: float = 0.0
    first_ok: bool = False
    first_seconds: float = 0.0
    answered: bool = False
    wrong: bool = False
    failed_fast: bool = False
    retried: int = 0
    lost: bool = False
    errors: list[str] = field(default_factory=list)


def two_operations() -> Any:
    """The sample register with a second, non-idempotent operation (a write)."""
    doc = yaml.safe_load((DEMO / "penduduk.yaml").read_text())
    doc["operations"][WRITE] = copy.deepcopy(doc["operations"][IDEMPOTENT])
    doc["operations"][WRITE]["description"] = "Record a visit of the resident (not idempotent)."
    return parse_descriptor(doc, "chaos descriptor")


async def stored_ids(store: AuditStore, ids: list[str]) -> set[str]:
    found: set[str] = set()
    async with store.engine.connect() as connection:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await connection.scalars(
                select(AuditRecord.event_id).where(AuditRecord.event_id.in_(chunk))
            )
            found.update(rows)
    return found


async def running_nodes(cluster: Cluster, via: int) -> list[str]:
    async with cluster.management(via) as api:
        nodes = (await api.get("/api/nodes")).json()
    return sorted(node["name"] for node in nodes if node.get("running"))


async def test_the_bus_loses_nothing_when_a_node_is_stopped_then_killed(
    cluster: Cluster, cluster_settings: Settings, tmp_path: Path
) -> None:
    settings = cluster_settings
    assert settings.queue_type == "quorum"
    descriptor = two_operations()
    executed: dict[str, int] = {}

    async def person(payload: dict[str, str], _request: object) -> dict[str, str]:
        return {"nik": payload["nik"], "name": "Siti Aminah", "village": "Sungai Binjai"}

    async def record(payload: dict[str, str], _request: object) -> dict[str, str]:
        executed[payload["nik"]] = executed.get(payload["nik"], 0) + 1
        return await person(payload, _request)

    store = AuditStore(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    adapter = Adapter(
        descriptor, {IDEMPOTENT: person, WRITE: record}, settings, declare_topology=True
    )
    emitted: list[str] = []
    emit = adapter.audit.emit

    def counted(event: dict[str, Any], then: Any = None) -> None:
        """The emitter, counting; ``then`` settles the request once the event is confirmed."""
        emitted.append(event["id"])
        emit(event, then)

    adapter.audit.emit = counted  # type: ignore[method-assign]
    stop_sink = asyncio.Event()
    sink = AuditSink(store, settings.broker_urls, settings=settings)
    sink_task = asyncio.create_task(sink.run(stop_sink))
    loop = asyncio.get_running_loop()
    outcomes: dict[int, Outcome] = {}

    async def one(client: Client, i: int) -> None:
        op = WRITE if i % 5 == 0 else IDEMPOTENT
        nik = f"{i:016d}"
        outcome = outcomes[i] = Outcome(started=loop.time())
        attempt = 0
        while True:
            began = loop.time()
            try:
                reply = await client.call(
                    "kependudukan", descriptor.ref, op, {"nik": nik}, timeout=TIMEOUT
                )
            except (ConnectionLost, ServiceUnavailable, RequestTimeout) as exc:
                outcome.errors.append(type(exc).__name__)
                if attempt == 0:
                    outcome.failed_fast = not isinstance(exc, RequestTimeout)
                    outcome.first_seconds = loop.time() - began
                if op != IDEMPOTENT:
                    break  # a write is not retried: the caller is told, and decides
                if attempt == RETRIES:
                    outcome.lost = True
                    break
                attempt += 1
                outcome.retried += 1
                await asyncio.sleep(0.2)
                continue
            outcome.answered = True
            outcome.wrong = reply.get("nik") != nik
            if attempt == 0:
                outcome.first_ok = True
                outcome.first_seconds = loop.time() - began
            break
        outcome.ended = loop.time()

    load_done = asyncio.Event()
    calls: list[asyncio.Task[None]] = []

    async def load(client: Client) -> None:
        i, due = 0, loop.time()
        while not load_done.is_set():
            calls.append(asyncio.create_task(one(client, i)))
            i += 1
            due += 1 / RATE
            await asyncio.sleep(max(0.0, due - loop.time()))

    timeline: dict[str, float] = {}
    victim = 0
    try:
        async with adapter, Client(settings, name="splp-chaos") as client:
            started = loop.time()
            generator = asyncio.create_task(load(client))
            await asyncio.sleep(4)
            # the node the requester is on (the adapter and the sink are on it too)
            port = int(client._connection.address.split(":")[1].split("/")[0])
            victim = next(n for n in range(1, NODES + 1) if cluster.amqp_port(n) == port)
            timeline["stop"] = loop.time()
            code, out = await cluster.actl(victim, "stop_app")
            assert code == 0, out
            timeline["stopped"] = loop.time()
            await asyncio.sleep(max(0.0, timeline["stop"] + 8 - loop.time()))
            code, pid = await cluster.ascript("pid", str(victim))
            assert code == 0 and pid.strip().isdigit(), pid
            timeline["kill"] = loop.time()
            os.kill(int(pid), signal.SIGKILL)
            await asyncio.sleep(2)
            timeline["restart"] = loop.time()
            code, out = await cluster.ascript("start", str(victim), timeout=90)
            assert code == 0, out
            timeline["restarted"] = loop.time()
            await asyncio.sleep(3)
            load_done.set()
            await generator
            await asyncio.wait(calls, timeout=TIMEOUT * (RETRIES + 2))
            timeline["end"] = loop.time()
            assert await adapter.audit.flush(timeout=15), "adapter audit backlog not sent"
        survivor = next(n for n in range(1, NODES + 1) if n != victim)
        rejoined = await running_nodes(cluster, survivor)
        expected = sorted(set(emitted))
        stored: set[str] = set()
        for _ in range(200):  # the sink catches up with the quorum queue
            stored = await stored_ids(store, expected)
            if len(stored) == len(expected):
                break
            await asyncio.sleep(0.1)
    finally:
        stop_sink.set()
        await asyncio.wait_for(sink_task, 30)
        await store.close()

    # --- the figures
    done = [outcomes[i] for i in sorted(outcomes)]
    stop_at = timeline["stop"]
    during = [o for o in done if o.started >= stop_at and o.started < timeline["kill"]]
    disturbed = [o for o in during if not o.first_ok]
    restored_at = max((o.started for o in disturbed), default=stop_at)
    recovery = restored_at - stop_at
    writes_failed = [i for i, o in outcomes.items() if i % 5 == 0 and not o.answered]
    executed_anyway = sum(1 for i in writes_failed if f"{i:016d}" in executed)
    answered = sum(o.answered for o in done)
    figures: dict[str, object] = {
        "rate (calls/s)": round(len(done) / (timeline["end"] - started), 1),
        "sent": len(done),
        "answered": answered,
        "failed fast": sum(o.failed_fast for o in done),
        "timed out (first attempt)": sum(
            bool(o.errors) and o.errors[0] == "RequestTimeout" for o in done
        ),
        "retried (idempotent, attempts)": sum(o.retried for o in done),
        "failed, not retried (writes)": len(writes_failed),
        "  of which executed by the adapter": executed_anyway,
        "lost": sum(o.lost for o in done),
        "wrong": sum(o.wrong for o in done),
        "unfinished": sum(1 for t in calls if not t.done()),
        "recovery after stop_app (s)": round(recovery, 2),
        "stop_app took (s)": round(timeline["stopped"] - timeline["stop"], 2),
        "restart + rejoin took (s)": round(timeline["restarted"] - timeline["restart"], 2),
        "slowest first attempt (s)": round(max(o.first_seconds for o in done), 2),
        "first attempts slower than 1 s": sum(o.first_seconds > SLOW for o in done),
        "node stopped, killed and restarted": cluster.node(victim),
        "running nodes after": ", ".join(rejoined),
        "audit events stored / expected": f"{len(stored)} / {len(expected)}",
    }
    print("\ncluster chaos figures:")
    for name, value in figures.items():
        print(f"  {name:36} {value}")
    print("  per 2 s from the stop (answered at once / slow / failed fast / timed out):")
    marks = {round(t - stop_at): name for name, t in timeline.items()}
    for bucket in range(int(started - stop_at) // 2 * 2, int(timeline["end"] - stop_at), 2):
        in_bucket = [o for o in done if bucket <= o.started - stop_at < bucket + 2]
        if not in_bucket:
            continue
        quick = sum(o.first_ok and o.first_seconds <= SLOW for o in in_bucket)
        slow = sum(o.first_ok and o.first_seconds > SLOW for o in in_bucket)
        fast = sum(o.failed_fast for o in in_bucket)
        late = sum("RequestTimeout" in o.errors for o in in_bucket)
        events = [name for t, name in marks.items() if bucket <= t < bucket + 2]
        print(f"    {bucket:+4d} s  {quick:4d} {slow:4d} {fast:4d} {late:4d}  {' '.join(events)}")
    errors = sorted({e for o in done for e in o.errors})
    print(f"  {'errors seen':36} {', '.join(errors) or 'none'}")

    assert figures["unfinished"] == 0
    assert figures["lost"] == 0
    assert figures["wrong"] == 0
    assert answered + len(writes_failed) == len(done)
    assert len(done) >= RATE * 15  # the load really ran
    assert recovery <= RESTORE_TARGET, figures
    assert rejoined == [cluster.node(n) for n in range(1, NODES + 1)]
    assert len(stored) == len(expected) and len(expected) >= answered
    with pytest.raises(httpx.HTTPError):  # loopback only: nothing on another interface
        async with httpx.AsyncClient(timeout=1) as http:
            await http.get(f"http://127.0.0.2:{cluster.management_port(1)}/api/overview")
