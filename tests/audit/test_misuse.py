"""The misuse rules (Bungo Pasal 8(5)b) on synthetic traffic through the real bus: a real
adapter answers a real requester, the real sink stores the adapter's events, and each
rule stays quiet on normal traffic and fires on the traffic it is about.

The rules are evaluated "as of" a moment (``detect(..., now=...)``): the store is history,
so one test can ask what the rule said before and after the suspicious traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiormq
import pytest

from splp.adapters import Adapter
from splp.audit import AuditSink, AuditStore
from splp.audit.broker_events import BrokerEvents
from splp.audit.misuse import (
    WIB,
    FailedLoginsRule,
    NewOperationRule,
    NotFoundRule,
    OfficeHoursRule,
    VolumeRule,
    detect,
    load_rules,
)
from splp.bus import Client, Request
from splp.bus.wire import Problem
from splp.errors import RemoteError
from splp.settings import Settings
from tests.audit.conftest import trusting
from tests.audit.test_broker_events import broker_user, recorder  # noqa: F401
from tests.audit.test_sink import running, wait_count
from tests.services import bad_response, echo_descriptor, fail


async def lookup(payload: Any, request: Request) -> Any:
    """Found for an even id, 404 for an odd one (a NIK that does not exist)."""
    if payload["id"] % 2:
        raise Problem.not_found("no resident with that number")
    return {"id": payload["id"]}


class Traffic:
    """Calls through the real bus, stored by the real sink; ``mark()`` is a moment."""

    def __init__(self, client: Client, adapter: Adapter, store: AuditStore) -> None:
        self.client = client
        self.adapter = adapter
        self.store = store
        self.requester = client.settings.username
        self.sent = 0

    @property
    def ref(self) -> str:
        return str(self.adapter.descriptor.ref)

    async def send(self, ids: list[int], operation: str = "echo") -> None:
        for n in ids:
            with contextlib.suppress(RemoteError):
                await self.client.call("uji", self.ref, operation, {"id": n}, timeout=10)
            self.sent += 1
        assert await wait_count(self.store, self.sent) == self.sent

    @staticmethod
    def mark() -> datetime:
        return datetime.now(UTC)


@pytest.fixture
async def traffic(
    make_adapter: Callable[..., Awaitable[Adapter]],
    broker: Settings,
    sink_queue: str,
    audit_store: AuditStore,
) -> AsyncIterator[Traffic]:
    descriptor = echo_descriptor(service=f"misuse-{uuid.uuid4().hex[:6]}")
    handlers = {"echo": lookup, "fail": fail, "bad-response": bad_response}
    adapter = await make_adapter(descriptor, handlers)
    # the test bench's adapter runs as the broker's administrator, not as uji's broker user
    sink = AuditSink(
        AuditStore(audit_store.url), broker.broker_url, queue=sink_queue, settings=trusting(broker)
    )
    async with running(sink), Client(broker) as client:
        yield Traffic(client, adapter, audit_store)
    await sink.store.close()


async def test_not_found_ratio(traffic: Traffic) -> None:
    rule = NotFoundRule(rule="not_found", ratio=0.5, min_calls=6)
    await traffic.send([0, 2, 4, 6, 8, 10, 12, 14])  # residents that exist
    assert await detect(traffic.store, [rule]) == []
    await traffic.send([1, 3, 5, 7, 9, 11, 13, 15, 17, 19])  # enumerating numbers
    [hit] = await detect(traffic.store, [rule])
    assert (hit.rule, hit.requester, hit.service) == ("not_found", traffic.requester, traffic.ref)
    assert hit.figures == {"calls": 18, "not_found": 10, "ratio": round(10 / 18, 4)}


async def test_volume_far_above_the_requesters_baseline(traffic: Traffic) -> None:
    marks = []
    for _ in range(3):  # a steady three calls a window
        marks.append(traffic.mark())
        await traffic.send([0, 2, 4])
        await asyncio.sleep(max(0.0, 1.0 - (traffic.mark() - marks[-1]).total_seconds()))
    burst = traffic.mark()
    window = (burst - marks[-1]).total_seconds()
    rule = VolumeRule(
        rule="volume", window_seconds=window, baseline_windows=3, factor=3, min_calls=3
    )
    assert await detect(traffic.store, [rule], now=burst) == []  # 3 calls, baseline 2 a window
    await traffic.send(list(range(0, 60, 2)))
    now = traffic.mark()
    burst_rule = rule.model_copy(update={"window_seconds": (now - burst).total_seconds() + 0.01})
    burst_rule = burst_rule.model_copy(
        update={"baseline_windows": int((burst - marks[0]).total_seconds() / 0.05) + 1}
    )
    [hit] = await detect(traffic.store, [burst_rule], now=now)
    assert (hit.rule, hit.requester, hit.service) == ("volume", traffic.requester, traffic.ref)
    assert hit.figures["calls"] == 30 and hit.figures["baseline_mean"] < 1


def _slot_without(hour: int) -> tuple[time, time]:
    return (time(13), time(14)) if hour < 12 else (time(1), time(2))


async def test_calls_outside_office_hours(traffic: Traffic) -> None:
    await traffic.send([0, 2, 4, 6, 8])
    every_day = frozenset(range(1, 8))
    open_all_day = OfficeHoursRule(
        rule="office_hours", start=time(0), end=time(23, 59, 59, 999999), weekdays=every_day
    )
    assert await detect(traffic.store, [open_all_day]) == []
    start, end = _slot_without(datetime.now(WIB).hour)
    closed_now = OfficeHoursRule(rule="office_hours", start=start, end=end, weekdays=every_day)
    [hit] = await detect(traffic.store, [closed_now])
    assert (hit.requester, hit.service) == (traffic.requester, traffic.ref)
    assert hit.figures["calls_outside"] == 5
    assert hit.figures["office_hours"] == f"{start:%H:%M}-{end:%H:%M} WIB"


async def test_first_use_of_an_operation(traffic: Traffic) -> None:
    await traffic.send([0, 2, 4])
    first = traffic.mark()
    rule = NewOperationRule(rule="new_operation", window_seconds=3600)
    assert await detect(traffic.store, [rule]) == []  # a first call of the service: not named
    await traffic.send([6, 8])
    now = traffic.mark()
    recent = rule.model_copy(update={"window_seconds": (now - first).total_seconds()})
    assert await detect(traffic.store, [recent], now=now) == []  # the same operation again
    await traffic.send([10], operation="fail")
    now = traffic.mark()
    recent = rule.model_copy(update={"window_seconds": (now - first).total_seconds()})
    [hit] = await detect(traffic.store, [recent], now=now)
    assert (hit.rule, hit.service, hit.operation) == ("new_operation", traffic.ref, "fail")
    assert hit.figures == {"calls": 1, "operations_before": ["echo"]}
    everything = rule.model_copy(update={"first_call_too": True})
    hits = await detect(traffic.store, [everything])
    assert {h.operation for h in hits} == {"echo", "fail"}


async def test_repeated_failed_broker_logins(
    recorder: BrokerEvents,  # noqa: F811
    audit_store: AuditStore,
    broker_user: tuple[str, str],  # noqa: F811
    broker: Settings,
) -> None:
    name, _password = broker_user
    vhost = quote(broker.vhost, safe="")
    rule = FailedLoginsRule(rule="failed_logins", window_seconds=600, min_failures=3)
    for n in range(3):
        if n == 2:
            assert await _failures(audit_store, name, 2) == 2
            assert await detect(audit_store, [rule]) == []  # a typo or two: quiet
        with pytest.raises(aiormq.exceptions.AMQPConnectionError):
            await aiormq.connect(f"amqp://{name}:wrong-{n}@127.0.0.1:5672/{vhost}")
    assert await _failures(audit_store, name, 3) == 3
    [hit] = [h for h in await detect(audit_store, [rule]) if h.requester == name]
    assert (hit.rule, hit.service, hit.figures) == ("failed_logins", None, {"failures": 3})


async def _failures(store: AuditStore, user: str, n: int) -> int:
    from tests.audit.test_broker_events import records_of

    return len(await records_of(store, "broker.user-authentication-failure", user, n))


def test_rules_file_errors_are_named(tmp_path: Path) -> None:
    good = tmp_path / "rules.yaml"
    good.write_text(
        "rules:\n"
        "  - {rule: not_found, ratio: 0.3, suspend: true}\n"
        "  - {rule: office_hours, start: '08:00', end: '16:00', weekdays: [1, 2, 3, 4, 5]}\n"
    )
    rules = load_rules(good)
    assert [r.rule for r in rules] == ["not_found", "office_hours"]
    assert rules[0].suspend and isinstance(rules[1], OfficeHoursRule)
    assert rules[1].outside(datetime(2026, 11, 28, 3, tzinfo=UTC))  # a Saturday
    assert not rules[1].outside(datetime(2026, 11, 30, 3, tzinfo=UTC))  # Monday 10:00 WIB
    assert rules[1].outside(datetime(2026, 11, 30, 10, tzinfo=UTC))  # Monday 17:00 WIB
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {rule: not_found, ratio: 2}\n  - {rule: sideways}\n")
    with pytest.raises(ValueError, match=r"rules\.0\.not_found\.ratio") as caught:
        load_rules(bad)
    assert "rules.1" in str(caught.value)
    with pytest.raises(ValueError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    assert timedelta(hours=7) == WIB.utcoffset(None)
