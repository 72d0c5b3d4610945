"""Misuse rules over the audit store (Bungo Pasal 8(5)b): beyond the refusals of quotas.

Each rule looks at a window that ends now (``window_seconds`` long) and names the
requesters whose calls there look like misuse:

* ``volume`` - a requester's calls to a service in the window exceed ``factor`` times its
  own mean per window over the ``baseline_windows`` windows before (and ``min_calls``);
* ``not_found`` - at least ``ratio`` of a requester's answered calls to a service were
  404 (NIK enumeration), with ``min_calls`` answered calls;
* ``office_hours`` - calls outside the office hours (``start``-``end`` on ``weekdays``,
  in WIB, UTC+7);
* ``new_operation`` - a requester calls an operation of a service that it did not call in
  the ``lookback_days`` before the window, although it called the service's other
  operations (``first_call_too`` also names a requester's first call of a service);
* ``failed_logins`` - ``min_failures`` failed broker logins of one broker user
  (``broker.user-authentication-failure`` events, :mod:`splp.audit.broker_events`).

The rules are a JSON or YAML file (``SPLP_MISUSE_RULES``)::

    rules:
      - rule: not_found
        ratio: 0.5
        min_calls: 20
        suspend: true      # suspend the grant, pending review

This module only reads the audit store; raising, alerting and suspending is the control
plane's (:mod:`splp.control_plane.misuse_watch`).

>>> rules = parse_rules({"rules": [{"rule": "failed_logins", "min_failures": 3}]})
>>> rules[0].rule, rules[0].window_seconds, rules[0].suspend
('failed_logins', 3600.0, False)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from splp.audit.records import AuditRecord, counted
from splp.audit.store import AuditStore
from splp.errors import ConfigurationError

WIB = timezone(timedelta(hours=7), "WIB")
CALL_KINDS = ("response", "denied", "throttled", "dropped")
LOGIN_FAILURE = "broker.user-authentication-failure"
RULE_TITLES = {
    "volume": "volume panggilan jauh di atas kebiasaan pemohon",
    "not_found": "banyak panggilan tidak ditemukan (404), dugaan enumerasi NIK",
    "office_hours": "panggilan di luar jam kerja",
    "new_operation": "operasi yang belum pernah dipakai pemohon",
    "failed_logins": "gagal masuk ke broker berulang kali",
}
"""Each rule in Bahasa Indonesia, for the alerts and the reports."""


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window_seconds: float = Field(default=3600.0, gt=0, le=31 * 86400)
    suspend: bool = False
    """Suspend the grant (pending review) on a hit; rules without a grant never suspend."""


class VolumeRule(_Rule):
    rule: Literal["volume"]
    baseline_windows: int = Field(default=168, ge=1, le=10_000)
    factor: float = Field(default=5.0, gt=1)
    min_calls: int = Field(default=100, ge=1)


class NotFoundRule(_Rule):
    rule: Literal["not_found"]
    ratio: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=20, ge=1)


class OfficeHoursRule(_Rule):
    rule: Literal["office_hours"]
    start: time = time(7, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = Field(default=frozenset({1, 2, 3, 4, 5}))
    """ISO weekdays (1 = Monday) with office hours; other days are outside all day."""
    min_calls: int = Field(default=1, ge=1)

    def outside(self, at: datetime) -> bool:
        local = at.astimezone(WIB)
        if local.isoweekday() not in self.weekdays:
            return True
        return not (self.start <= local.time().replace(tzinfo=None) < self.end)


class NewOperationRule(_Rule):
    rule: Literal["new_operation"]
    lookback_days: int = Field(default=90, ge=1, le=3660)
    first_call_too: bool = False


class FailedLoginsRule(_Rule):
    rule: Literal["failed_logins"]
    min_failures: int = Field(default=5, ge=1)


Rule = Annotated[
    VolumeRule | NotFoundRule | OfficeHoursRule | NewOperationRule | FailedLoginsRule,
    Field(discriminator="rule"),
]


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(max_length=100)


def parse_rules(data: Any) -> list[Rule]:
    """The rules of a parsed rules file; :class:`~splp.errors.ConfigurationError` (a
    :class:`ValueError`) says what is wrong."""
    try:
        return list(TypeAdapter(RulesFile).validate_python(data).rules)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"misuse rules: {problems}") from None


def load_rules(path: Path) -> list[Rule]:
    """The rules of a JSON or YAML file (JSON is YAML too)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"misuse rules: cannot read {path}: {exc}") from None
    return parse_rules(data)


@dataclass(frozen=True)
class Hit:
    """A requester (a broker user) whose traffic in ``[since, until)`` matched a rule."""

    rule: str
    requester: str
    since: datetime
    until: datetime
    service: str | None = None
    """``PUBLISHER.SERVICE.vMAJOR``, or ``None`` for a rule about the broker login."""
    operation: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    suspend: bool = False

    @property
    def key(self) -> str:
        """The same hit found twice has the same key."""
        parts = [self.rule, self.requester, self.service or "", self.operation or ""]
        parts.append(self.since.isoformat())
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _ref(publisher: str | None, service: str | None, major: int | None) -> str:
    return f"{publisher}.{service}.v{major}"


async def detect(store: AuditStore, rules: list[Rule], now: datetime | None = None) -> list[Hit]:
    """Every rule's hits in its window ending at ``now``."""
    now = now or datetime.now(UTC)
    hits: list[Hit] = []
    async with store.engine.connect() as connection:
        for rule in rules:
            since = now - timedelta(seconds=rule.window_seconds)
            found = await _DETECTORS[rule.rule](connection, rule, since, now)
            hits += [
                Hit(rule.rule, requester, since, now, ref, op, figures, rule.suspend)
                for requester, ref, op, figures in found
            ]
    return hits


Found = list[tuple[str, str | None, str | None, dict[str, Any]]]
GROUP = (AuditRecord.requester, AuditRecord.publisher, AuditRecord.service, AuditRecord.major)


def _calls(since: datetime, until: datetime, kinds: tuple[str, ...] = CALL_KINDS) -> Any:
    return and_(
        AuditRecord.at >= since,
        AuditRecord.at < until,
        AuditRecord.kind.in_(kinds),
        AuditRecord.requester.is_not(None),
        counted(),
    )


async def _volume(
    connection: AsyncConnection, rule: Any, since: datetime, until: datetime
) -> Found:
    assert isinstance(rule, VolumeRule)
    current = await connection.execute(
        select(*GROUP, func.count()).where(_calls(since, until)).group_by(*GROUP)
    )
    counts: dict[tuple[Any, ...], int] = {tuple(row[:4]): int(row[4]) for row in current.all()}
    start = since - timedelta(seconds=rule.window_seconds * rule.baseline_windows)
    before = await connection.execute(
        select(*GROUP, func.count()).where(_calls(start, since)).group_by(*GROUP)
    )
    baseline: dict[tuple[Any, ...], int] = {tuple(row[:4]): int(row[4]) for row in before.all()}
    found: Found = []
    for group, calls in sorted(counts.items(), key=str):
        mean = baseline.get(group, 0) / rule.baseline_windows
        if calls >= rule.min_calls and calls > rule.factor * mean:
            figures = {"calls": calls, "baseline_mean": round(mean, 2), "factor": rule.factor}
            found.append((str(group[0]), _ref(*group[1:]), None, figures))
    return found


async def _not_found(
    connection: AsyncConnection, rule: Any, since: datetime, until: datetime
) -> Found:
    assert isinstance(rule, NotFoundRule)
    missing = func.sum(case((AuditRecord.status == 404, 1), else_=0))
    rows = await connection.execute(
        select(*GROUP, func.count(), missing)
        .where(_calls(since, until, ("response",)))
        .group_by(*GROUP)
    )
    found: Found = []
    for requester, publisher, service, major, calls, not_found in rows.all():
        calls, not_found = int(calls), int(not_found or 0)
        if calls >= rule.min_calls and not_found / calls >= rule.ratio:
            figures = {"calls": calls, "not_found": not_found, "ratio": round(not_found / calls, 4)}
            found.append((str(requester), _ref(publisher, service, major), None, figures))
    return sorted(found, key=str)


async def _office_hours(
    connection: AsyncConnection, rule: Any, since: datetime, until: datetime
) -> Found:
    assert isinstance(rule, OfficeHoursRule)
    outside: Counter[tuple[Any, ...]] = Counter()
    result = await connection.stream(select(*GROUP, AuditRecord.at).where(_calls(since, until)))
    async for requester, publisher, service, major, at in result:
        if rule.outside(at):
            outside[requester, publisher, service, major] += 1
    hours = f"{rule.start:%H:%M}-{rule.end:%H:%M} WIB"
    return [
        (str(g[0]), _ref(*g[1:]), None, {"calls_outside": n, "office_hours": hours})
        for g, n in sorted(outside.items(), key=str)
        if n >= rule.min_calls
    ]


def _operation(event: str) -> str | None:
    value = orjson.loads(event).get("operation")
    return value if isinstance(value, str) else None


async def _new_operation(
    connection: AsyncConnection, rule: Any, since: datetime, until: datetime
) -> Found:
    assert isinstance(rule, NewOperationRule)
    used: Counter[tuple[Any, ...]] = Counter()
    result = await connection.stream(select(*GROUP, AuditRecord.event).where(_calls(since, until)))
    async for requester, publisher, service, major, event in result:
        if (operation := _operation(event)) is not None:
            used[requester, publisher, service, major, operation] += 1
    start = since - timedelta(days=rule.lookback_days)
    found: Found = []
    for (requester, publisher, service, major, operation), calls in sorted(used.items(), key=str):
        history = await connection.stream(
            select(AuditRecord.event).where(
                _calls(start, since),
                AuditRecord.requester == requester,
                AuditRecord.publisher == publisher,
                AuditRecord.service == service,
                AuditRecord.major == major,
            )
        )
        before = {op async for (event,) in history if (op := _operation(event)) is not None}
        if operation in before or (not before and not rule.first_call_too):
            continue
        figures = {"calls": calls, "operations_before": sorted(before)}
        found.append((str(requester), _ref(publisher, service, major), operation, figures))
    return found


async def _failed_logins(
    connection: AsyncConnection, rule: Any, since: datetime, until: datetime
) -> Found:
    assert isinstance(rule, FailedLoginsRule)
    failures: Counter[str] = Counter()
    result = await connection.stream(
        select(AuditRecord.event).where(
            AuditRecord.at >= since,
            AuditRecord.at < until,
            AuditRecord.kind == LOGIN_FAILURE,
            counted(),
        )
    )
    async for (event,) in result:
        user = orjson.loads(event).get("user")
        if isinstance(user, str):
            failures[user] += 1
    return [
        (user, None, None, {"failures": n})
        for user, n in sorted(failures.items())
        if n >= rule.min_failures
    ]


_DETECTORS = {
    "volume": _volume,
    "not_found": _not_found,
    "office_hours": _office_hours,
    "new_operation": _new_operation,
    "failed_logins": _failed_logins,
}
