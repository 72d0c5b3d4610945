"""The yearly, half-yearly or monthly evaluation report (Bungo Pasal 9, ``splp report evaluasi``).

A period is a year (``2026``), a semester (``2026-S1``, ``2026-S2``) or a month
(``2026-11``); its days are cut at midnight WIB (Asia/Jakarta, UTC+7 all year: Indonesia
keeps no daylight saving time).

Everything about the calls is aggregated in SQL, in bounded memory, on SQLite and on
PostgreSQL: grouped scans give the totals per service, requester, operation and WIB day
(a few rows per combination, never one per call); the latencies' p50 and p95 are
computed by the database (on PostgreSQL a histogram, then a ranking of the wanted
buckets only; on SQLite a window ``ROW_NUMBER``; both the nearest-rank percentile of
:func:`splp.audit.reports.percentile`). On PostgreSQL the totals and the percentiles run
side by side on two connections sharing one snapshot, and read the covering index of
the call events (audit migration a0006).

The calls are classified as:

* ``ok``: answered with a status below 400;
* ``caller_errors``: answered 4xx (a bad or unknown NIK is the caller's doing, not the
  publisher's), refusals apart;
* ``publisher_failures``: answered 5xx, which includes the adapter's 504 when the
  publisher's own system did not answer in time;
* ``denied`` (403) and ``throttled`` (429): refused by the adapter;
* ``dropped``: not answered at all (expired before it was read, no reply address).

What the directory knows (the services, the grants, the access procedure) comes from a
:class:`DirectoryFacts` that the control plane passes in; the audit package never reads
the directory.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Protocol

import orjson
from sqlalchemy import Select, and_, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from splp.audit.records import COUNTED_SQL, AuditRecord, counted
from splp.audit.service_levels import availability_section, breaches, supervision_section
from splp.audit.store import AuditStore

WIB = timezone(timedelta(hours=7), "WIB")
"""Western Indonesian Time, the regency's clock (no daylight saving time)."""
PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:S(?P<semester>[12])|(?P<month>\d{2})))?$")
CALL_KINDS = ("response", "denied", "throttled", "dropped")
COUNTS = (
    "calls",
    "ok",
    "caller_errors",
    "publisher_failures",
    "denied",
    "throttled",
    "dropped",
)
MONTHS_ID = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


class BadPeriod(ValueError):
    """The period is not ``YYYY``, ``YYYY-S1``, ``YYYY-S2`` or ``YYYY-MM``."""


@dataclass(frozen=True, slots=True)
class Period:
    """A year, a semester or a month, as the WIB days ``[first, end)``.

    >>> p = Period.parse("2026-S2")
    >>> p.first, p.end, p.label_id
    (datetime.date(2026, 7, 1), datetime.date(2027, 1, 1), 'Semester II 2026')
    >>> p.start_utc.isoformat(), p.next().name
    ('2026-06-30T17:00:00+00:00', '2027-S1')
    >>> Period.parse("2026-11").next().name, Period.parse("2026").label_id
    ('2026-12', 'Tahun 2026')
    """

    name: str
    kind: str  # year | semester | month
    first: date
    end: date

    @classmethod
    def parse(cls, value: str) -> Period:
        match = PERIOD.match(value.strip())
        if match is None:
            raise BadPeriod(f"{value!r} is not a period: give YYYY, YYYY-S1, YYYY-S2 or YYYY-MM")
        year = int(match["year"])
        if not 2000 <= year <= 9998:
            raise BadPeriod(f"{value!r}: the year must be between 2000 and 9998")
        if match["semester"]:
            half = int(match["semester"])
            first = date(year, 1 if half == 1 else 7, 1)
            end = date(year, 7, 1) if half == 1 else date(year + 1, 1, 1)
            return cls(f"{year}-S{half}", "semester", first, end)
        if match["month"]:
            month = int(match["month"])
            if not 1 <= month <= 12:
                raise BadPeriod(f"{value!r}: the month must be 01 to 12")
            end = date(year + (month == 12), month % 12 + 1, 1)
            return cls(f"{year}-{month:02d}", "month", date(year, month, 1), end)
        return cls(str(year), "year", date(year, 1, 1), date(year + 1, 1, 1))

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.first, time(), WIB).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return datetime.combine(self.end, time(), WIB).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.end - self.first).days

    @property
    def label_id(self) -> str:
        """The period in Bahasa Indonesia."""
        if self.kind == "year":
            return f"Tahun {self.first.year}"
        if self.kind == "semester":
            return f"Semester {'I' if self.first.month == 1 else 'II'} {self.first.year}"
        return f"{MONTHS_ID[self.first.month - 1]} {self.first.year}"

    def next(self) -> Period:
        """The period of the same kind that follows."""
        if self.kind == "year":
            return Period.parse(str(self.end.year))
        if self.kind == "semester":
            return Period.parse(f"{self.end.year}-S{1 if self.end.month == 1 else 2}")
        return Period.parse(f"{self.end.year}-{self.end.month:02d}")


class DirectoryFacts(Protocol):
    """What the directory knows about a period, as plain data (the control plane reads it):

    * ``services``: every service version published before the period's end, as
      ``PUBLISHER.SERVICE.vMAJOR``;
    * ``grants``: ``{"service", "requester"}`` for each grant in force at some moment of
      the period (requesters named as the adapters name them, by broker user);
    * ``procedure``: the statistics of the access procedure (Pasal 7);
    * ``requester_prefix``: the broker user prefix, left out when a requester is shown;
    * ``service_levels``: ``{service: {"availability_target", "p95_target_ms", ...}}``,
      what each descriptor promises;
    * ``supervision``: the misuse hits whose window ended in the period, each with its
      ``follow_ups`` (Pasal 8(5)b).
    """

    async def __call__(self, period: Period, now: datetime) -> dict[str, Any]: ...


def _in_period(query: Select[Any], period: Period) -> Select[Any]:
    return query.where(
        AuditRecord.at >= period.start_utc,
        AuditRecord.at < period.end_utc,
        AuditRecord.kind.in_(CALL_KINDS),
        counted(),
    )


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _classes() -> list[Any]:
    response = AuditRecord.kind == "response"
    status = AuditRecord.status
    return [
        func.count().label("calls"),
        _count(and_(response, (status.is_(None)) | (status < 400))).label("ok"),
        _count(and_(response, status >= 400, status < 500)).label("caller_errors"),
        _count(and_(response, status >= 500)).label("publisher_failures"),
        _count(AuditRecord.kind == "denied").label("denied"),
        _count(AuditRecord.kind == "throttled").label("throttled"),
        _count(AuditRecord.kind == "dropped").label("dropped"),
    ]


async def _breakdown(connection: AsyncConnection, period: Period) -> list[dict[str, Any]]:
    """One row per (service, requester, operation) with the counts of each class, on
    SQLite (PostgreSQL: :data:`TOTALS_AND_DAYS`)."""
    query = _in_period(
        select(
            AuditRecord.publisher,
            AuditRecord.service,
            AuditRecord.major,
            AuditRecord.requester,
            AuditRecord.operation,
            *_classes(),
        ),
        period,
    ).group_by(
        AuditRecord.publisher,
        AuditRecord.service,
        AuditRecord.major,
        AuditRecord.requester,
        AuditRecord.operation,
    )
    rows = []
    for row in (await connection.execute(query)).mappings():
        rows.append(
            {
                "service": _service_ref(row),
                "requester": row["requester"] or "-",
                "operation": row["operation"] or "-",
                **{name: int(row[name]) for name in COUNTS},
            }
        )
    return rows


COUNTED = """
    count(*) AS calls,
    count(*) FILTER (WHERE kind = 'response' AND (status IS NULL OR status < 400)) AS ok,
    count(*) FILTER (WHERE kind = 'response' AND status >= 400 AND status < 500)
        AS caller_errors,
    count(*) FILTER (WHERE kind = 'response' AND status >= 500) AS publisher_failures,
    count(*) FILTER (WHERE kind = 'denied') AS denied,
    count(*) FILTER (WHERE kind = 'throttled') AS throttled,
    count(*) FILTER (WHERE kind = 'dropped') AS dropped
"""
SUMMED = ", ".join(f"CAST(sum({name}) AS bigint) AS {name}" for name in COUNTS)
TOTALS_AND_DAYS = f"""
WITH g AS MATERIALIZED (
    -- the WIB day as a number; date_part is a double (extract() a slower numeric)
    SELECT publisher, service, major, requester, operation,
        CAST(floor((date_part('epoch', at) + 25200) / 86400) AS integer) AS day, {COUNTED}
    FROM audit_records
    WHERE at >= :start AND at < :end AND {COUNTED_SQL}
        AND kind IN ('response', 'denied', 'throttled', 'dropped')
    GROUP BY publisher, service, major, requester, operation, day
)
SELECT 1 AS level, publisher, service, major, requester, operation, CAST(NULL AS integer)
    AS day, {SUMMED}
FROM g GROUP BY publisher, service, major, requester, operation
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, day, {SUMMED} FROM g GROUP BY day
"""
"""The totals per (service, requester, operation) and per WIB day (a number of days since
1970-01-01) from one scan of the period: a grouping by both (a row per combination and
day, in the server's memory), summed up twice."""


async def _totals_and_days_postgresql(
    connection: AsyncConnection, period: Period
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    bounds = {"start": period.start_utc, "end": period.end_utc}
    rows: list[dict[str, Any]] = []
    daily: dict[str, dict[str, int]] = {}
    for row in (await connection.execute(text(TOTALS_AND_DAYS), bounds)).mappings():
        counts = {name: int(row[name]) for name in COUNTS}
        if row["level"] == 2:
            daily[_day_label(int(row["day"]))] = counts
        else:
            rows.append(
                {
                    "service": _service_ref(row),
                    "requester": row["requester"] or "-",
                    "operation": row["operation"] or "-",
                    **counts,
                }
            )
    return rows, daily


def _service_ref(row: Any) -> str:
    return f"{row['publisher'] or '-'}.{row['service'] or '-'}.v{row['major'] or 0}"


async def _daily(connection: AsyncConnection, period: Period) -> dict[str, dict[str, int]]:
    """The counts per WIB day, on SQLite (PostgreSQL: :data:`TOTALS_AND_DAYS`)."""
    day = func.date(AuditRecord.at, "+7 hours").label("day")
    query = _in_period(select(day, *_classes()), period).group_by(day)
    return {
        _day_label(row["day"]): {name: int(row[name]) for name in COUNTS}
        for row in (await connection.execute(query)).mappings()
    }


def _day_label(day: Any) -> str:
    """``YYYY-MM-DD`` from SQLite's text or PostgreSQL's day number since 1970-01-01."""
    if isinstance(day, int):
        return (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    return str(day)


PERCENTILE_GROUPS = {
    "service": (AuditRecord.publisher, AuditRecord.service, AuditRecord.major),
    "requester": (AuditRecord.requester,),
    "all": (),
}


async def _percentiles(
    connection: AsyncConnection, period: Period, by: str
) -> dict[str, tuple[float | None, float | None]]:
    """p50 and p95 of the answered calls' latency, per group, computed by SQLite (a window
    ROW_NUMBER, spilled to its temporary files, never held in Python)."""
    columns = PERCENTILE_GROUPS[by]
    names = [c.key for c in columns]
    where = (
        "at >= :start AND at < :end AND kind = 'response' AND duration_ms IS NOT NULL"
        f" AND {COUNTED_SQL}"
    )
    group = ", ".join(names)
    # SQLite (PostgreSQL: _percentiles_postgresql)
    partition = f"PARTITION BY {group}" if group else ""
    statement = (
        f"WITH ranked AS (SELECT {group + ',' if group else ''} duration_ms, "
        f"ROW_NUMBER() OVER ({partition} ORDER BY duration_ms) AS rn, "
        f"COUNT(*) OVER ({partition}) AS n FROM audit_records WHERE {where}) "
        f"SELECT {group + ',' if group else ''} "
        "MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN duration_ms END) AS p50, "
        "MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN duration_ms END) AS p95 "
        f"FROM ranked {'GROUP BY ' + group if group else ''}"
    )
    bounds = {
        "start": _bind(connection, period.start_utc),
        "end": _bind(connection, period.end_utc),
    }
    result: dict[str, tuple[float | None, float | None]] = {}
    for row in (await connection.execute(text(statement), bounds)).mappings():
        if by == "service":
            key = _service_ref(row)
        elif by == "requester":
            key = row["requester"] or "-"
        else:
            key = "all"
        result[key] = (_float(row["p50"]), _float(row["p95"]))
    return result


ANSWERED = (
    "at >= :start AND at < :end AND kind = 'response' AND duration_ms IS NOT NULL"
    f" AND {COUNTED_SQL}"
)
BUCKET = "CAST(sqrt(greatest(duration_ms, 0)) * 20 AS integer)"
"""A latency's histogram bucket: monotonic in the latency, so the k-th latency of a group
is the (k - before)-th of its bucket. About 1.9 % wide at 30 ms, 0.9 % at 120 ms (a
square root is cheaper per row than a logarithm); 1,200 buckets up to a latency of one
hour."""
LEVELS = {1: "service", 2: "requester", 3: "all"}
RANKS = {"p50": 50, "p95": 95}

HISTOGRAM = f"""
WITH h AS MATERIALIZED (
    SELECT publisher, service, major, requester, {BUCKET} AS b, count(*) AS n
    FROM audit_records WHERE {ANSWERED}
    GROUP BY publisher, service, major, requester, b
), levels AS (
    SELECT 1 AS level, publisher, service, major, CAST(NULL AS varchar) AS requester, b,
        sum(n) AS n
    FROM h GROUP BY publisher, service, major, b
    UNION ALL
    SELECT 2, NULL, NULL, NULL, requester, b, sum(n) FROM h GROUP BY requester, b
    UNION ALL
    SELECT 3, NULL, NULL, NULL, NULL, b, sum(n) FROM h GROUP BY b
), c AS (
    SELECT *, CAST(sum(n) OVER w AS bigint) AS cum,
        CAST(sum(n) OVER (PARTITION BY level, publisher, service, major, requester) AS bigint)
            AS total
    FROM levels WINDOW w AS (PARTITION BY level, publisher, service, major, requester ORDER BY b)
)
SELECT level, publisher, service, major, requester, b, cum - n AS before, cum, total
FROM c
WHERE (cum - n < (50 * total + 99) / 100 AND cum >= (50 * total + 99) / 100)
   OR (cum - n < (95 * total + 99) / 100 AND cum >= (95 * total + 99) / 100)
"""


def _same(column: str, empty: str = "''") -> str:
    """``t.column IS NOT DISTINCT FROM r.column``, written so that a hash join can use it."""
    return (
        f"coalesce(t.{column}, {empty}) = coalesce(r.{column}, {empty}) "
        f"AND (t.{column} IS NULL) = (r.{column} IS NULL)"
    )


PICK = f"""
WITH t AS (
    SELECT * FROM jsonb_to_recordset(CAST(:targets AS jsonb)) AS t(
        id integer, level integer, publisher text, service text, major integer,
        requester text, b integer, k bigint)
), r AS MATERIALIZED (
    SELECT publisher, service, major, requester, duration_ms AS d, {BUCKET} AS b
    FROM audit_records WHERE {ANSWERED} AND {BUCKET} = ANY(CAST(:buckets AS integer[]))
), m AS (
    SELECT t.id, t.k, r.d FROM r JOIN t ON t.level = 1 AND t.b = r.b
        AND {_same("publisher")} AND {_same("service")} AND {_same("major", "-1")}
    UNION ALL
    SELECT t.id, t.k, r.d FROM r JOIN t ON t.level = 2 AND t.b = r.b AND {_same("requester")}
    UNION ALL
    SELECT t.id, t.k, r.d FROM r JOIN t ON t.level = 3 AND t.b = r.b
), n AS (
    SELECT id, k, d, row_number() OVER (PARTITION BY id ORDER BY d) AS rn FROM m
)
SELECT id, d FROM n WHERE rn = k
"""
"""The wanted latencies: the calls of the wanted buckets only (kept once, a few percent of
the period's calls), matched to their targets by three hash joins (per service, per
requester, all), ranked within each target."""


async def _percentiles_postgresql(
    connection: AsyncConnection, period: Period
) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """The nearest-rank p50 and p95 of every service, requester and of all calls, with no
    sort of the whole period: a histogram of the latencies in square-root buckets (hashed per
    service and requester) finds the bucket of each wanted rank; a second scan ranks the
    latencies of those buckets only. Exact, and the same figures as on SQLite."""
    bounds = {"start": period.start_utc, "end": period.end_utc}
    targets: list[dict[str, Any]] = []
    wanted: dict[int, tuple[str, str, str]] = {}
    for row in (await connection.execute(text(HISTOGRAM), bounds)).mappings():
        level = LEVELS[int(row["level"])]
        key = _service_ref(row) if level == "service" else row["requester"] or "-"
        key = "all" if level == "all" else key
        total, before, cum = int(row["total"]), int(row["before"]), int(row["cum"])
        for name, p in RANKS.items():
            rank = (p * total + 99) // 100
            if before < rank <= cum:
                wanted[len(targets)] = (level, key, name)
                targets.append(
                    {
                        "id": len(targets),
                        "level": int(row["level"]),
                        "publisher": row["publisher"],
                        "service": row["service"],
                        "major": row["major"],
                        "requester": row["requester"],
                        "b": int(row["b"]),
                        "k": rank - before,
                    }
                )
    found: dict[str, dict[str, dict[str, float | None]]] = {
        level: defaultdict(dict) for level in LEVELS.values()
    }
    if targets:
        picked = await connection.execute(
            text(PICK),
            {
                **bounds,
                "targets": orjson.dumps(targets).decode(),
                "buckets": sorted({int(t["b"]) for t in targets}),
            },
        )
        for target, value in picked:
            level, key, name = wanted[int(target)]
            found[level][key][name] = _float(value)
    return {
        level: {key: (v.get("p50"), v.get("p95")) for key, v in values.items()}
        for level, values in found.items()
    }


SNAPSHOT = re.compile(r"^[0-9A-Fa-f-]{1,64}$")


async def _tune(connection: AsyncConnection) -> None:
    # hashed aggregates in memory (the server's, bounded), and no JIT compile of queries
    # that each scan the period once
    await connection.execute(text("SET LOCAL work_mem = '64MB'"))
    await connection.execute(text("SET LOCAL jit = off"))


async def _figures_postgresql(
    store: AuditStore, period: Period
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]], dict[str, Any]]:
    """The totals and days (one scan) and the percentiles (two scans) at once, each on a
    connection of its own: the server runs them side by side, on one snapshot of the
    store (``pg_export_snapshot``), so that their figures agree while the sink appends."""
    async with store.engine.connect() as lead:
        await lead.execution_options(isolation_level="REPEATABLE READ")
        async with lead.begin():
            snapshot = str((await lead.execute(text("SELECT pg_export_snapshot()"))).scalar_one())
            if not SNAPSHOT.match(snapshot):
                raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
            await _tune(lead)

            async def on_snapshot(work: Any) -> Any:
                async with store.engine.connect() as connection:
                    await connection.execution_options(isolation_level="REPEATABLE READ")
                    async with connection.begin():
                        await connection.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                        await _tune(connection)
                        return await work(connection, period)

            latency, (rows, daily) = await asyncio.gather(
                on_snapshot(_percentiles_postgresql),
                _totals_and_days_postgresql(lead, period),
            )
    return rows, daily, latency


def _bind(connection: AsyncConnection, moment: datetime) -> Any:
    # SQLite keeps the UTC column as naive text, as SQLAlchemy's DateTime writes it
    if connection.dialect.name == "sqlite":
        return (
            moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    return moment


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _totals(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for row in rows:
        for name in COUNTS:
            totals[row[key]][name] += row[name]
    return dict(totals)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def evaluation(
    store: AuditStore,
    period: Period,
    facts: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The evaluation report of ``period`` as plain data (the JSON of the audit API)."""
    now = now or datetime.now(UTC)
    facts = facts or {}
    if store.dialect == "postgresql":
        rows, daily, latency = await _figures_postgresql(store, period)
    else:
        async with store.engine.begin() as connection:
            rows = await _breakdown(connection, period)
            daily = await _daily(connection, period)
            latency = {by: await _percentiles(connection, period, by) for by in PERCENTILE_GROUPS}
    prefix = str(facts.get("requester_prefix") or "")

    def od(name: str) -> str:
        return name[len(prefix) :] if prefix and name.startswith(prefix) else name

    by_service = _totals(rows, "service")
    by_requester = _totals(rows, "requester")
    by_operation = _totals([{**r, "op": f"{r['service']} {r['operation']}"} for r in rows], "op")
    cross: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        cross[row["service"], row["requester"]] += row["calls"]

    services: list[str] = sorted(set(facts.get("services", [])) | set(by_service))
    grants: list[dict[str, str]] = list(facts.get("grants", []))
    unused_grants = [
        {"service": g["service"], "requester": od(g["requester"])}
        for g in sorted(grants, key=lambda g: (g["service"], g["requester"]))
        if not cross.get((g["service"], g["requester"]))
    ]
    levels: dict[str, dict[str, Any]] = dict(facts.get("service_levels") or {})
    available = await availability_section(
        store, period.start_utc, period.end_utc, now, services, levels
    )
    percent = {r["service"]: r["availability_percent"] for r in available["services"]}
    total = dict.fromkeys(COUNTS, 0)
    for row in rows:
        for name in COUNTS:
            total[name] += row[name]
    p50, p95 = latency["all"].get("all", (None, None))
    report: dict[str, Any] = {
        "period": period.name,
        "label": period.label_id,
        "from": period.first.isoformat(),
        "to": (period.end - timedelta(days=1)).isoformat(),
        "timezone": "Asia/Jakarta (WIB, UTC+7)",
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "totals": {
            **total,
            "publisher_failure_rate": _rate(total["publisher_failures"], total["calls"]),
            "caller_error_rate": _rate(total["caller_errors"], total["calls"]),
            "p50_ms": p50,
            "p95_ms": p95,
        },
        "by_service": [
            {
                "service": name,
                **by_service.get(name, dict.fromkeys(COUNTS, 0)),
                "publisher_failure_rate": _rate(
                    by_service.get(name, {}).get("publisher_failures", 0),
                    by_service.get(name, {}).get("calls", 0),
                ),
                "p50_ms": latency["service"].get(name, (None, None))[0],
                "p95_ms": latency["service"].get(name, (None, None))[1],
                "availability": percent.get(name),  # None: not measured
                "availability_target": levels.get(name, {}).get("availability_target"),
                "p95_target_ms": levels.get(name, {}).get("p95_target_ms"),
            }
            for name in services
        ],
        "by_requester": [
            {
                "requester": od(name),
                **counts,
                "p50_ms": latency["requester"].get(name, (None, None))[0],
                "p95_ms": latency["requester"].get(name, (None, None))[1],
            }
            for name, counts in sorted(by_requester.items())
        ],
        "by_operation": [
            {"service": key.split(" ", 1)[0], "operation": key.split(" ", 1)[1], **counts}
            for key, counts in sorted(by_operation.items())
        ],
        "cross_tab": {
            "services": services,
            "requesters": sorted({od(r) for r in by_requester}),
            "calls": [
                {"service": s, "requester": od(r), "calls": n}
                for (s, r), n in sorted(cross.items())
            ],
        },
        "daily": [{"day": day, **counts} for day, counts in sorted(daily.items())],
        "unused_services": [s for s in services if not by_service.get(s, {}).get("calls")],
        "unused_grants": unused_grants,
        "grants_in_force": len(grants),
        "availability": available,
        "procedure": facts.get("procedure"),
        "supervision": supervision_section(facts.get("supervision")),
    }
    report["service_level_breaches"] = breaches(report["by_service"], available["services"], levels)
    report["narrative"] = narrative(report)
    return report


def _n(value: int | float) -> str:
    """A number the Indonesian way: ``1.234.567`` and ``12,5``."""
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return f"{value:,.1f}".replace(",", "#").replace(".", ",").replace("#", ".")


def _pct(rate: float) -> str:
    return _n(round(rate * 100, 1)) + "%"


def narrative(report: dict[str, Any]) -> list[str]:
    """The report's narrative in Bahasa Indonesia, with its figures filled in."""
    t = report["totals"]
    paragraphs = [
        f"Selama {report['label']} ({report['from']} s.d. {report['to']}, WIB), SPLP "
        f"melayani {_n(t['calls'])} panggilan layanan dari {len(report['by_requester'])} "
        f"perangkat daerah peminta ke {len(report['by_service']) - len(report['unused_services'])}"
        f" dari {len(report['by_service'])} layanan yang terdaftar. Sebanyak {_n(t['ok'])} "
        f"panggilan dijawab dengan berhasil.",
        f"Kegagalan di sisi penerbit (status 5xx, termasuk batas waktu) berjumlah "
        f"{_n(t['publisher_failures'])} panggilan ({_pct(t['publisher_failure_rate'])}); "
        f"kesalahan di sisi peminta (status 4xx, misalnya NIK tidak ditemukan atau tidak sah) "
        f"berjumlah {_n(t['caller_errors'])} panggilan ({_pct(t['caller_error_rate'])}). "
        f"Adaptor menolak {_n(t['denied'])} panggilan tanpa izin dan membatasi "
        f"{_n(t['throttled'])} panggilan yang melampaui kuota.",
    ]
    if t["p50_ms"] is not None:
        paragraphs.append(
            f"Waktu tanggap median (p50) adalah {_n(float(t['p50_ms']))} ms dan persentil ke-95 "
            f"(p95) adalah {_n(float(t['p95_ms']))} ms."
        )
    busiest = max(report["by_service"], key=lambda r: r["calls"], default=None)
    if busiest is not None and busiest["calls"]:
        paragraphs.append(
            f"Layanan yang paling banyak digunakan adalah {busiest['service']} dengan "
            f"{_n(busiest['calls'])} panggilan."
        )
    unused = report["unused_services"]
    paragraphs.append(
        f"Sebanyak {len(unused)} layanan tidak digunakan sama sekali dalam periode ini"
        + (f" ({', '.join(unused)})." if unused else ".")
        + f" Dari {_n(report['grants_in_force'])} izin akses yang berlaku, "
        f"{len(report['unused_grants'])} tidak pernah digunakan."
    )
    procedure = report.get("procedure")
    if procedure:
        hours = procedure["median_hours"]
        paragraphs.append(
            f"Prosedur akses (Pasal 7): {_n(procedure['received'])} permohonan diterima, "
            f"{_n(procedure['approved'])} disetujui administrator, {_n(procedure['rejected'])} "
            f"ditolak, {_n(procedure['granted'])} diberikan izin dan {_n(procedure['declined'])} "
            f"ditolak oleh penerbit. Median waktu keputusan administrator "
            f"{_hours(hours.get('administrator'))}, median waktu keputusan penerbit "
            f"{_hours(hours.get('publisher'))}. {len(procedure['approved_not_granted'])} "
            f"permohonan telah disetujui tetapi belum diberikan izin lebih dari 14 hari, dan "
            f"{len(procedure['expiring_next_period'])} izin akan berakhir pada periode "
            f"berikutnya ({procedure['next_period']})."
        )
    paragraphs.append(_availability_paragraph(report["availability"]))
    paragraphs.append(_breaches_paragraph(report))
    supervision = report.get("supervision")
    if supervision is not None:
        paragraphs.append(_supervision_paragraph(supervision))
    return paragraphs


def percent_id(value: float) -> str:
    """An availability the Indonesian way, with two decimals: ``99,95%``."""
    return f"{value:,.2f}".replace(",", "#").replace(".", ",").replace("#", ".") + "%"


def duration_id(seconds: float) -> str:
    """``1 jam 5 menit``, ``12 menit 3 detik``, ``4,2 detik``."""
    if seconds < 60:
        return f"{_n(round(seconds, 1))} detik"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "hari"), (hours, "jam"), (minutes, "menit")]
    if not days and not hours:
        parts.append((secs, "detik"))
    return " ".join(f"{n} {unit}" for n, unit in parts if n) or "0 detik"


def _availability_paragraph(section: dict[str, Any]) -> str:
    rows = section["services"]
    measured = [r for r in rows if r["measured"]]
    if not measured:
        return (
            "Ketersediaan layanan tidak diukur: tidak ada data probe kesehatan dalam periode ini."
        )
    lowest = min(measured, key=lambda r: (r["availability_percent"], r["service"]))
    text = (
        f"Ketersediaan layanan diukur oleh probe kesehatan untuk {len(measured)} dari "
        f"{len(rows)} layanan. Ketersediaan terendah adalah {lowest['service']}: "
        f"{percent_id(lowest['availability_percent'])}, dengan {lowest['outages']} gangguan "
        f"dan {duration_id(lowest['down_seconds'])} tidak tersedia dari "
        f"{duration_id(lowest['observed_seconds'])} yang teramati."
    )
    unmeasured = [r["service"] for r in rows if not r["measured"]]
    if unmeasured:
        text += f" Tidak diukur: {', '.join(unmeasured)}."
    return text


def _breaches_paragraph(report: dict[str, Any]) -> str:
    found = report["service_level_breaches"]
    with_targets = sum(
        1
        for r in report["by_service"]
        if r.get("availability_target") is not None or r.get("p95_target_ms") is not None
    )
    if not with_targets:
        return "Belum ada layanan yang menetapkan target tingkat layanan (ketersediaan atau p95)."
    if not found:
        return (
            f"Tidak ada pelanggaran tingkat layanan: {with_targets} layanan menetapkan target, "
            "dan semua target yang terukur terpenuhi."
        )
    return (
        f"Terdapat {len(found)} pelanggaran tingkat layanan: "
        + "; ".join(breach_id(b) for b in found)
        + "."
    )


def breach_id(breach: dict[str, Any]) -> str:
    """One breach in Bahasa Indonesia, with its figures."""
    if breach["measure"] == "availability":
        return (
            f"{breach['service']} ketersediaan {percent_id(breach['actual'])} di bawah target "
            f"{percent_id(breach['target'])}"
        )
    return (
        f"{breach['service']} p95 {_n(float(breach['actual']))} ms di atas target "
        f"{_n(float(breach['target']))} ms"
    )


def _supervision_paragraph(supervision: dict[str, Any]) -> str:
    findings = supervision["findings"]
    if not findings:
        return (
            "Pengawasan (Pasal 8 ayat (5) huruf b): tidak ada temuan aturan penyalahgunaan "
            "dalam periode ini."
        )
    listed = "; ".join(
        f"#{f['id']} {f['title']} oleh {f['requester']}"
        + (f" pada {f['service']}" if f.get("service") else "")
        + (f" (tindak lanjut: {len(f['follow_ups'])})" if f.get("follow_ups") else "")
        for f in findings
    )
    return (
        f"Pengawasan (Pasal 8 ayat (5) huruf b): {supervision['count']} temuan aturan "
        f"penyalahgunaan dalam periode ini, {supervision['followed_up']} di antaranya telah "
        f"dicatat tindak lanjutnya: {listed}."
    )


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{_n(round(value, 1))} jam"
