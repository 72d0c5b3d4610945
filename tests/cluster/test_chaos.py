"""Chaos on the 3-node cluster under a steady load of 200 calls/s (loopback only, ~60 s).

A requester, an adapter and the audit sink, each given the three nodes
(``SPLP_AMQP_URLS``, so quorum queues), run in this process. The issue's two disruptions
of one node, the one the requester is connected to (the adapter and the sink connect to
the same first node and fail over in the same order):

1. after 4 s of load, ``rabbitmqctl -n NODE stop_app``;
2. 12 s later, that node's Erlang VM is killed with ``kill -9`` of its own PID; 12 s later
   it is started again (``scripts/cluster.sh start N``) and must rejoin the cluster.

Meanwhile:

* every call ends in an answer or an error, never in silence (*unfinished*, target 0);
* a reply must be the answer to its own request (*wrong*, target 0);
* a call in flight may fail fast with :class:`~splp.errors.ConnectionLost` (or
  :class:`~splp.errors.ServiceUnavailable`), or time out: only the idempotent operation
  (``get-by-nik``) is retried, up to 5 times; the other (``record-visit``, one call in
  five) is reported, not retried, with how many of those the adapter executed anyway;
* *lost*: an idempotent call never answered, in spite of its retries (target 0);
* the service is restored within 10 s of each disruption: it answers again. Recovery is
  measured over every call: an attempt that failed fast marks the service down at the
  moment it failed, one that timed out at the moment it was sent. A disruption's recovery
  is its last such moment before the next step (12 s later), minus the disruption's time;
  0 if no attempt failed. Answers later than 1 s (calls that waited for a reconnect, or a
  backlog draining) are counted and timed the same way, as *slow*, and reported, not
  asserted: on this 2-CPU machine the requester, the adapter and the sink share one
  process with three broker nodes, and a backlog after a failover drains in 3 to 14 s
  depending on what else runs (3.4 s alone, 13 s inside the whole suite);
* every audit event the adapter emitted is in the audit store (the sink consumes a quorum
  queue).

The figures go to the "cluster figures" section of pytest's terminal summary
(tests/cluster/conftest.py), whether the test passes or not.

The kill finds the clients gone (they left the node at ``stop_app``), so the summary
says it disturbed nothing rather than boasting a 0 s recovery. A harsher sequence was
tried (December 2026, RabbitMQ 3.10.8): ``kill -9`` of the node the clients had moved
to. Then the adapter's connection to a surviving node was closed with 541
INTERNAL_ERROR each time it published a reply to a direct reply-to address on the
killed node (``{case_clause,error}`` in ``rabbit_channel:deliver_reply``), and the
unacknowledged request came back to it: no call sent in the 12 s after that kill was
answered within 1 s, in three runs. That sequence is not run here; see docs/installation.md.
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
WINDOW = 12.0  # seconds from a disruption to the next step: longer than the target
SLOW = 1.0  # an attempt answered later than this is slow (reported, not a failure)


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
    failed_at: list[float] = field(default_factory=list)  # when, for each failed attempt
    slow_at: list[float] = field(default_factory=list)  # when, for each slow answer


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


async def rejoin(cluster: Cluster, victim: int) -> tuple[float, float]:
    """``scripts/cluster.sh start N`` (``start_app``, or a boot after a kill), then waits
    until another node lists it running: how long the script took, and until then."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    code, out = await cluster.ascript("start", str(victim), timeout=90)
    assert code == 0, out
    script = loop.time() - began
    other = next(n for n in range(1, NODES + 1) if n != victim)
    while cluster.node(victim) not in await running_nodes(cluster, other):
        assert loop.time() - began < 120, f"{cluster.node(victim)} did not rejoin"
        await asyncio.sleep(0.2)
    return script, loop.time() - began


def node_of(cluster: Cluster, client: Client) -> int:
    port = int(client._connection.address.split(":")[1].split("/")[0])
    return next(n for n in range(1, NODES + 1) if cluster.amqp_port(n) == port)


@dataclass
class Phase:
    """One step of the test and what the calls saw until the next step."""

    name: str
    sent: int  # calls sent in it
    failed: int  # calls with an attempt that failed in it (retries of earlier calls too)
    recovery: float  # its last failure, seconds after the step (0 when none)
    slow: int  # calls with an answer later than SLOW in it
    settled: float  # its last slow answer, seconds after the step (0 when none)


def phase_figures(done: list[Outcome], steps: list[tuple[str, float]], end: float) -> list[Phase]:
    """What the calls saw in each step (name, time), until the next one."""
    rows = []
    for k, (name, at) in enumerate(steps):
        until = steps[k + 1][1] if k + 1 < len(steps) else end + TIMEOUT * (RETRIES + 2)
        sent = sum(at <= o.started < until for o in done)
        failed = [[m for m in o.failed_at if at <= m < until] for o in done]
        slow = [[m for m in o.slow_at if at <= m < until] for o in done]
        rows.append(
            Phase(
                name,
                sent,
                sum(bool(m) for m in failed),
                max((m for ms in failed for m in ms), default=at) - at,
                sum(bool(m) for m in slow),
                max((m for ms in slow for m in ms), default=at) - at,
            )
        )
    return rows


async def test_the_bus_loses_nothing_when_a_node_is_stopped_then_killed(
    cluster: Cluster, cluster_settings: Settings, cluster_figures: list[str], tmp_path: Path
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
                timed_out = isinstance(exc, RequestTimeout)
                outcome.errors.append(type(exc).__name__)
                outcome.failed_at.append(began if timed_out else loop.time())
                if attempt == 0:
                    outcome.failed_fast = not timed_out
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
            took = loop.time() - began
            if took > SLOW:
                outcome.slow_at.append(loop.time())
            outcome.answered = True
            outcome.wrong = reply.get("nik") != nik
            if attempt == 0:
                outcome.first_ok = True
                outcome.first_seconds = took
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

    t: dict[str, float] = {}
    took: dict[str, tuple[float, float]] = {}
    stopped = 0
    try:
        async with adapter, Client(settings, name="splp-chaos") as client:
            t["load"] = loop.time()
            load_average = [os.getloadavg()[0]]
            generator = asyncio.create_task(load(client))
            await asyncio.sleep(4)
            # 1. stop_app on the node the requester is on (the adapter and sink are too)
            stopped = node_of(cluster, client)
            t["stop_app"] = loop.time()
            code, out = await cluster.actl(stopped, "stop_app")
            assert code == 0, out
            await asyncio.sleep(max(0.0, t["stop_app"] + WINDOW - loop.time()))
            assert node_of(cluster, client) != stopped, "the requester did not fail over"
            # 2. kill -9 the stopped node's Erlang VM, then start it again
            code, pid = await cluster.ascript("pid", str(stopped))
            assert code == 0 and pid.strip().isdigit(), pid
            t["kill -9"] = loop.time()
            os.kill(int(pid), signal.SIGKILL)
            await asyncio.sleep(max(0.0, t["kill -9"] + WINDOW - loop.time()))
            t["restart"] = loop.time()
            took["restart"] = await rejoin(cluster, stopped)
            await asyncio.sleep(3)
            load_done.set()
            await generator
            await asyncio.wait(calls, timeout=TIMEOUT * (RETRIES + 2))
            t["end"] = loop.time()
            load_average.append(os.getloadavg()[0])
            assert await adapter.audit.flush(timeout=15), "adapter audit backlog not sent"
        rejoined = await running_nodes(cluster, stopped)
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
    steps = [(name, t[name]) for name in ("load", "stop_app", "kill -9", "restart")]
    phases = phase_figures(done, steps, t["end"])
    recovery = {phase.name: phase.recovery for phase in phases}
    writes_failed = [i for i, o in outcomes.items() if i % 5 == 0 and not o.answered]
    executed_anyway = sum(1 for i in writes_failed if f"{i:016d}" in executed)
    answered = sum(o.answered for o in done)
    figures: dict[str, object] = {
        "machine load average (start / end)": (
            f"{load_average[0]:.1f} / {load_average[-1]:.1f} on {os.cpu_count()} CPUs"
        ),
        "rate (calls/s)": round(len(done) / (t["end"] - t["load"]), 1),
        "sent": len(done),
        "answered": answered,
        "failed fast (first attempt)": sum(o.failed_fast for o in done),
        "timed out (first attempt)": sum(
            bool(o.errors) and o.errors[0] == "RequestTimeout" for o in done
        ),
        "retried (idempotent, attempts)": sum(o.retried for o in done),
        "failed, not retried (writes)": len(writes_failed),
        "  of which executed by the adapter": executed_anyway,
        "lost": sum(o.lost for o in done),
        "wrong": sum(o.wrong for o in done),
        "unfinished": sum(1 for task in calls if not task.done()),
        "slowest first attempt (s)": round(max(o.first_seconds for o in done), 2),
        "first attempts slower than 1 s": sum(o.first_seconds > SLOW for o in done),
        "stop_app, kill -9, then restart": cluster.node(stopped),
        "restart: script / rejoined (s)": "{:.2f} / {:.2f}".format(*took["restart"]),
        "running nodes after": ", ".join(rejoined),
        "audit events stored / expected": f"{len(stored)} / {len(expected)}",
    }
    lines = [f"cluster chaos test, {RATE} calls/s asked, 3 nodes, quorum queues:"]
    lines += [f"  {name:36} {value}" for name, value in figures.items()]
    lines.append(
        "  per step: calls sent in it; calls with an attempt that failed in it (retries of "
        "earlier calls too); recovery = its last failure, s after the step (target <= "
        f"{RESTORE_TARGET:g} s after stop_app and kill -9, {WINDOW:g} s to the next step; "
        "the last step runs until every retry ended); calls answered later than "
        f"{SLOW:g} s, and the last such answer, s after the step (reported, not asserted):"
    )
    lines.append(
        f"    {'step':10} {'calls sent':>10} {'failed':>7} {'recovery s':>11} "
        f"{'slow':>6} {'last slow s':>12}"
    )
    for p in phases:
        lines.append(
            f"    {p.name:10} {p.sent:10d} {p.failed:7d} {p.recovery:11.2f} "
            f"{p.slow:6d} {p.settled:12.2f}"
        )
    for p in phases:
        if p.name in ("stop_app", "kill -9") and not p.failed:
            lines.append(
                f"  NOTE: no call failed after {p.name}: its recovery of 0 s says the "
                "clients did not notice it, not that they recovered"
            )
    lines.append(
        "  per 2 s from the start of the load (answered at once / slow / failed fast / timed out):"
    )
    marks = {int(at - t["load"]) // 2 * 2: name for name, at in steps[1:]}
    for bucket in range(0, int(t["end"] - t["load"]) + 1, 2):
        in_bucket = [o for o in done if bucket <= o.started - t["load"] < bucket + 2]
        if not in_bucket:
            continue
        quick = sum(o.first_ok and o.first_seconds <= SLOW for o in in_bucket)
        slow = sum(o.first_ok and o.first_seconds > SLOW for o in in_bucket)
        fast = sum(o.failed_fast for o in in_bucket)
        late = sum("RequestTimeout" in o.errors for o in in_bucket)
        lines.append(
            f"    {bucket:3d} s  {quick:4d} {slow:4d} {fast:4d} {late:4d}  {marks.get(bucket, '')}"
        )
    errors = sorted({e for o in done for e in o.errors})
    lines.append(f"  {'errors seen':36} {', '.join(errors) or 'none'}")
    cluster_figures.extend(lines)
    print("\n" + "\n".join(lines))

    assert figures["unfinished"] == 0
    assert figures["lost"] == 0
    assert figures["wrong"] == 0
    assert answered + len(writes_failed) == len(done)
    assert len(done) >= RATE * 30  # the load really ran
    assert recovery["stop_app"] <= RESTORE_TARGET, figures
    assert recovery["kill -9"] <= RESTORE_TARGET, figures
    assert rejoined == [cluster.node(n) for n in range(1, NODES + 1)]
    assert len(stored) == len(expected) and len(expected) >= answered
    with pytest.raises(httpx.HTTPError):  # loopback only: nothing on another interface
        async with httpx.AsyncClient(timeout=1) as http:
            await http.get(f"http://127.0.0.2:{cluster.management_port(1)}/api/overview")
