"""The evaluation report's SQL aggregation, on SQLite and on PostgreSQL: its figures equal
a plain Python count of the same events, its days are cut at midnight WIB, and its
percentiles are the nearest-rank ones of :func:`splp.audit.reports.percentile`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from splp.audit import AuditStore, screen
from splp.audit.evaluation import BadPeriod, Period, evaluation
from splp.audit.reports import percentile
from splp.audit.store import MIGRATIONS
from splp.audit.verify import verify
from splp.bus.audit_events import audit_event
from tests.audit.conftest import call_event

NOVEMBER = Period.parse("2026-11")


def at(moment: datetime, **fields: Any) -> dict[str, Any]:
    event = call_event(0, **fields)
    event["time"] = moment.isoformat().replace("+00:00", "Z")
    return event


@pytest.mark.parametrize(
    "bad", ["26", "2026-13", "2026-00", "2026-S3", "2026-Q1", "1999", "2026-1", " ", "2026-11-01"]
)
def test_a_bad_period_is_refused_clearly(bad: str) -> None:
    with pytest.raises(BadPeriod, match=r"period|year|month"):
        Period.parse(bad)


def test_periods_are_cut_at_midnight_wib() -> None:
    assert NOVEMBER.start_utc == datetime(2026, 10, 31, 17, tzinfo=UTC)
    assert NOVEMBER.end_utc == datetime(2026, 11, 30, 17, tzinfo=UTC)
    assert Period.parse("2026-12").next().name == "2027-01"
    assert Period.parse("2026-S1").next().name == "2026-S2"
    assert Period.parse("2026").next().name == "2027"


async def test_figures_equal_a_python_count(audit_store: AuditStore) -> None:
    rng = random.Random(16)
    start = NOVEMBER.start_utc
    sent: list[dict[str, Any]] = []
    # just outside the period on both sides (WIB midnight), then inside it
    outside = [start - timedelta(seconds=1), NOVEMBER.end_utc]
    for moment in outside:
        sent.append(at(moment, requester="luar"))
    inside: list[dict[str, Any]] = []
    for n in range(400):
        moment = start + timedelta(seconds=rng.randrange(30 * 86400))
        status = rng.choice([200, 200, 200, 200, 404, 400, 500, 502, 504, 403, 429])
        fields = {
            "requester": rng.choice(["dinsos", "dinkes", "bappeda"]),
            "operation": rng.choice(["get-by-nik", "get-family"]),
            "service": rng.choice(["penduduk", "keluarga"]),
            "status": status,
            "duration_ms": round(rng.uniform(1, 900), 3),
        }
        inside.append(at(moment, **fields))
        if n % 97 == 0:  # a dropped request: no status, no duration
            dropped = audit_event(
                "dropped",
                "adapter:dukcapil.penduduk.v1",
                theme="kependudukan",
                publisher="dukcapil",
                service="penduduk",
                major=1,
                requester="dinsos",
                reason="expired",
            )
            dropped["time"] = (moment + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
            inside.append(dropped)
    # a non-call event in the period is no call
    other = audit_event("admin.login", "directory", actor="admin")
    other["time"] = (start + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    await audit_store.append([(e, None) for e in [*sent, *inside, other]])

    facts = {
        "services": ["dukcapil.penduduk.v1", "dukcapil.keluarga.v1", "bapenda.pajak.v1"],
        "grants": [
            {"service": "dukcapil.penduduk.v1", "requester": "dinsos"},
            {"service": "bapenda.pajak.v1", "requester": "dinsos"},
        ],
    }
    report = await evaluation(audit_store, NOVEMBER, facts)

    def classify(e: dict[str, Any]) -> str:
        if e["kind"] != "response":
            return str(e["kind"])
        status = int(e["status"])
        return "ok" if status < 400 else "caller_errors" if status < 500 else "publisher_failures"

    answered = [e for e in inside if e["kind"] == "response"]
    t = report["totals"]
    assert t["calls"] == len(inside)
    for name in ("ok", "caller_errors", "publisher_failures", "denied", "throttled", "dropped"):
        assert t[name] == sum(1 for e in inside if classify(e) == name), name
    ordered = sorted(e["duration_ms"] for e in answered)
    assert (t["p50_ms"], t["p95_ms"]) == (percentile(ordered, 50), percentile(ordered, 95))

    services = {r["service"]: r for r in report["by_service"]}
    assert services["bapenda.pajak.v1"]["calls"] == 0
    assert report["unused_services"] == ["bapenda.pajak.v1"]
    assert report["unused_grants"] == [{"service": "bapenda.pajak.v1", "requester": "dinsos"}]
    for ref, row in services.items():
        mine = [e for e in inside if f"dukcapil.{e['service']}.v1" == ref]
        assert row["calls"] == len(mine)
        latencies = sorted(e["duration_ms"] for e in mine if e["kind"] == "response")
        assert row["p95_ms"] == percentile(latencies, 95)
    requesters = {r["requester"]: r for r in report["by_requester"]}
    assert "luar" not in requesters
    for name, row in requesters.items():
        mine = [e for e in inside if e["requester"] == name]
        assert row["publisher_failures"] == sum(
            1 for e in mine if classify(e) == "publisher_failures"
        )
        latencies = sorted(e["duration_ms"] for e in mine if e["kind"] == "response")
        assert row["p50_ms"] == percentile(latencies, 50)
    cross = {(c["service"], c["requester"]): c["calls"] for c in report["cross_tab"]["calls"]}
    assert cross[("dukcapil.keluarga.v1", "bappeda")] == sum(
        1 for e in inside if (e["service"], e["requester"]) == ("keluarga", "bappeda")
    )
    operations = {(r["service"], r["operation"]): r["calls"] for r in report["by_operation"]}
    assert sum(operations.values()) == len(inside)
    assert operations[("dukcapil.penduduk.v1", "-")] == sum(
        1 for e in inside if e["kind"] == "dropped"
    )
    # days by WIB: the first call at 17:00:00 UTC on 31 October is on 1 November
    days = {d["day"]: d["calls"] for d in report["daily"]}
    assert min(days) >= "2026-11-01" and max(days) <= "2026-11-30"
    assert sum(days.values()) == len(inside)
    assert any("panggilan" in p for p in report["narrative"])


async def test_the_wib_day_of_a_call_just_after_utc_midnight(audit_store: AuditStore) -> None:
    # 2026-11-01 23:30 WIB is 16:30 UTC; 2026-11-02 00:30 WIB is 17:30 UTC on 1 November
    await audit_store.append(
        [
            (at(datetime(2026, 11, 1, 16, 30, tzinfo=UTC)), None),
            (at(datetime(2026, 11, 1, 17, 30, tzinfo=UTC)), None),
        ]
    )
    report = await evaluation(audit_store, NOVEMBER)
    assert [(d["day"], d["calls"]) for d in report["daily"]] == [
        ("2026-11-01", 1),
        ("2026-11-02", 1),
    ]


async def test_the_operation_column_is_filled_in_for_older_records(audit_url: str) -> None:
    """Records stored before migration a0005 get their operation from their event, and the
    chain still verifies."""
    store = AuditStore(audit_url)
    try:
        await store.migrate()
        async with store.engine.begin() as connection:  # back to before a0005
            await connection.run_sync(
                lambda sync: command.downgrade(MIGRATIONS.config(sync), "a0005-1")
            )
        async with store.engine.begin() as connection:
            await connection.execute(text("DELETE FROM audit_records"))
        # an a0001 store's append, by hand: the chain's first link
        from splp.audit.chain import GENESIS, canonical_json, record_hash

        event = at(datetime(2026, 11, 5, tzinfo=UTC), operation="get-family")
        digest = record_hash(event, 1, GENESIS, None)
        async with store.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO audit_records (seq, event_id, at, kind, theme, publisher, "
                    "service, major, requester, status, duration_ms, event, flag, prev_hash, "
                    "hash) VALUES (1, :id, :at, 'response', 'kependudukan', 'dukcapil', "
                    "'penduduk', 1, 'dinsos', 200, 0.5, :event, NULL, :prev, :hash)"
                ),
                {
                    "id": event["id"],
                    "at": datetime(2026, 11, 5, tzinfo=UTC)
                    if store.dialect == "postgresql"
                    else "2026-11-05 00:00:00.000000",
                    "event": canonical_json(event).decode(),
                    "prev": GENESIS,
                    "hash": digest,
                },
            )
        await store.migrate()
        report = await evaluation(store, NOVEMBER)
        assert [(r["operation"], r["calls"]) for r in report["by_operation"]] == [("get-family", 1)]
        assert (await verify(store)).ok
    finally:
        async with store.engine.begin() as connection:
            await connection.execute(text("DELETE FROM audit_records"))
        await store.migrate()
        await store.close()


async def test_the_usage_report_aggregates_in_sql_as_python_would(
    audit_store: AuditStore,
) -> None:
    """``splp report usage`` no longer keeps the latencies in the process: its SQL gives the
    figures a plain Python count gives, per UTC day."""
    from splp.audit.reports import usage

    rng = random.Random(9)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    sent = []
    for _ in range(300):
        moment = start + timedelta(seconds=rng.randrange(3 * 86400))
        status = rng.choice([200, 200, 404, 500, 403, 429])
        sent.append(
            at(
                moment,
                requester=rng.choice(["dinsos", "dinkes"]),
                status=status,
                duration_ms=round(rng.uniform(1, 500), 3),
            )
        )
    await audit_store.append([(e, None) for e in sent])
    report = await usage(audit_store, start, start + timedelta(days=3), {})
    for row in report["by_requester"]:
        mine = [
            e for e in sent if e["requester"] == row["requester"] and e["time"][:10] == row["day"]
        ]
        assert row["calls"] == len(mine)
        assert row["denied"] == sum(1 for e in mine if e["status"] == 403)
        assert row["throttled"] == sum(1 for e in mine if e["status"] == 429)
        assert row["errors"] == sum(1 for e in mine if e["status"] in (404, 500))
        latencies = sorted(e["duration_ms"] for e in mine)
        assert (row["p50_ms"], row["p95_ms"]) == (
            percentile(latencies, 50),
            percentile(latencies, 95),
        )
    assert sum(r["calls"] for r in report["by_service"]) == len(sent)
    assert [r["day"] for r in report["by_service"]] == ["2026-11-02", "2026-11-03", "2026-11-04"]


async def test_the_audit_migrations_build_exactly_the_model(audit_store: AuditStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from splp.audit.records import AuditBase

    ours = set(AuditBase.metadata.tables)

    def ours_only(name: str | None, kind: str, parents: Any) -> bool:
        return kind != "table" or name in ours

    async with audit_store.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"include_name": ours_only}),
                AuditBase.metadata,
            )
        )
    assert differences == []


def probed(kind: str, moment: datetime, service: str = "penduduk") -> tuple[Any, str | None]:
    """An up or down transition as the health probe emits it (and the sink screens it)."""
    event = audit_event(
        f"admin.service-{kind}",
        "directory",
        actor="splp-health-probe",
        theme="kependudukan",
        publisher="dukcapil",
        service=service,
        major=1,
        consumers=1 if kind == "up" else 0,
        cause=None if kind == "up" else "no consumers",
    )
    event["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return screen(event)


async def test_availability_breaches_and_findings(audit_store: AuditStore) -> None:
    """Availability from the probe's transitions (a state carried in from before the
    period counts, the time before the first known state does not), each breach of a
    descriptor's target, the misuse hits with their follow-ups; a service the probe never
    saw is "tidak diukur", never 100 %."""
    start, end = NOVEMBER.start_utc, NOVEMBER.end_utc
    transitions = [
        probed("down", start - timedelta(days=1)),  # down when the period begins
        probed("up", start + timedelta(hours=1)),
        probed("down", start + timedelta(days=10)),
        probed("up", start + timedelta(days=10, hours=6)),
    ]
    calls = [
        at(start + timedelta(days=2, seconds=n), duration_ms=float(d))
        for n, d in enumerate([20, 30, 40, 600, 700] * 4)
    ]
    await audit_store.append([*transitions, *((e, None) for e in calls)])
    assert all(flag is None for _, flag in transitions)
    finding = {
        "id": 7,
        "rule": "not_found",
        "requester": "dinsos",
        "service": "dukcapil.penduduk.v1",
        "operation": "get-by-nik",
        "since": (start + timedelta(days=3)).isoformat(),
        "until": (start + timedelta(days=3, hours=1)).isoformat(),
        "figures": {"calls": 40, "not_found": 31, "ratio": 0.775},
        "suspended": [3],
        "follow_ups": [
            {"id": 1, "text": "Dinsos dipanggil; akun dibatasi", "author": "admin", "at": None}
        ],
    }
    facts = {
        "services": ["dukcapil.penduduk.v1", "dukcapil.keluarga.v1"],
        "grants": [],
        "service_levels": {
            "dukcapil.penduduk.v1": {"availability_target": 99.5, "p95_target_ms": 500},
            "dukcapil.keluarga.v1": {"availability_target": 99.0},
        },
        "supervision": [finding],
    }
    report = await evaluation(audit_store, NOVEMBER, facts, now=end + timedelta(days=3))

    observed = (end - start).total_seconds()
    down = 7 * 3600.0
    rows = {r["service"]: r for r in report["availability"]["services"]}
    penduduk = rows["dukcapil.penduduk.v1"]
    assert penduduk["measured"] and penduduk["outages"] == 1  # the one begun in the period
    assert (penduduk["observed_seconds"], penduduk["down_seconds"]) == (observed, down)
    expected = round(100 * (observed - down) / observed, 3)
    assert penduduk["availability_percent"] == expected == 99.028
    assert rows["dukcapil.keluarga.v1"]["measured"] is False
    assert rows["dukcapil.keluarga.v1"]["availability_percent"] is None
    services = {r["service"]: r for r in report["by_service"]}
    assert services["dukcapil.penduduk.v1"]["availability"] == expected
    assert services["dukcapil.keluarga.v1"]["availability"] is None
    p95 = percentile(sorted(float(e["duration_ms"]) for e in calls), 95)
    assert services["dukcapil.penduduk.v1"]["p95_ms"] == p95 == 700.0
    assert report["service_level_breaches"] == [
        {
            "service": "dukcapil.penduduk.v1",
            "measure": "availability",
            "target": 99.5,
            "actual": expected,
        },
        {"service": "dukcapil.penduduk.v1", "measure": "p95_ms", "target": 500.0, "actual": p95},
    ]  # keluarga has a target but was not measured: no breach claimed
    supervision = report["supervision"]
    assert (supervision["count"], supervision["followed_up"]) == (1, 1)
    assert supervision["findings"][0]["title"].startswith("banyak panggilan tidak ditemukan")
    text = " ".join(report["narrative"])
    assert "untuk 1 dari 2 layanan" in text and "99,03%" in text
    assert "Tidak diukur: dukcapil.keluarga.v1" in text
    assert "2 pelanggaran tingkat layanan" in text
    assert "p95 700,0 ms di atas target 500,0 ms" in text
    assert "1 temuan aturan penyalahgunaan" in text and "#7" in text

    # the current period is measured up to now, not to its end
    now = start + timedelta(days=5)
    early = await evaluation(audit_store, NOVEMBER, facts, now=now)
    first = {r["service"]: r for r in early["availability"]["services"]}["dukcapil.penduduk.v1"]
    assert (first["observed_seconds"], first["down_seconds"]) == (5 * 86400.0, 3600.0)
    assert early["availability"]["until"] == now.isoformat(timespec="microseconds")

    # before any probe ran: not measured, and no availability breach
    september = await evaluation(audit_store, Period.parse("2026-09"), facts, now=end)
    assert september["availability"]["measured"] is False
    assert "tidak diukur" in september["availability"]["note"]
    assert all(r["availability"] is None for r in september["by_service"])
    assert september["service_level_breaches"] == []
    assert any("tidak diukur" in p for p in september["narrative"])
    assert "tidak ada temuan" not in " ".join(september["narrative"])  # facts gave a hit

    # without the directory's facts: no supervision section is claimed
    bare = await evaluation(audit_store, NOVEMBER, None, now=end)
    assert bare["supervision"] is None
    assert bare["service_level_breaches"] == []

    # the documents carry the three sections
    from splp.audit.evaluation_documents import to_html, to_pdf, to_xlsx

    page = to_html(report).decode()
    for expected_text in (
        "99,03%",
        "tidak diukur",
        "Pelanggaran tingkat layanan",
        "Latensi p95",
        "Dinsos dipanggil; akun dibatasi",
        "Temuan pengawasan",
    ):
        assert expected_text in page, expected_text
    assert to_pdf(report).startswith(b"%PDF")
    from io import BytesIO

    from openpyxl import load_workbook

    book = load_workbook(BytesIO(to_xlsx(report)))
    sheet = list(book["Ketersediaan"].iter_rows(values_only=True))
    assert sheet[1:] == [
        ("dukcapil.keluarga.v1", "tidak diukur", 99.0, "-", 0.0, 0.0),
        ("dukcapil.penduduk.v1", expected, 99.5, 1, down, observed),
    ]
    assert len(list(book["Pelanggaran SLA"].iter_rows())) == 3
    assert list(book["Temuan pengawasan"].iter_rows(values_only=True))[1][0] == "#7"


async def test_percentiles_of_calls_without_a_requester_or_publisher(
    audit_store: AuditStore,
) -> None:
    """Events missing a query column (stored as NULL) are ranked in their own group ("-"),
    apart from the named ones, as Python would rank them."""
    rng = random.Random(5)
    start = NOVEMBER.start_utc + timedelta(days=1)
    sent = []
    for n in range(120):
        event = at(
            start + timedelta(seconds=n),
            duration_ms=round(rng.uniform(1, 300), 3),
            requester=rng.choice(["dinsos", None]),
        )
        if n % 3 == 0:
            event.pop("publisher")
        sent.append(event)
    await audit_store.append([screen(e) for e in sent])
    report = await evaluation(audit_store, NOVEMBER)

    def figures(events: list[dict[str, Any]]) -> tuple[float, float]:
        ordered = sorted(float(e["duration_ms"]) for e in events)
        return percentile(ordered, 50), percentile(ordered, 95)

    requesters = {r["requester"]: (r["p50_ms"], r["p95_ms"]) for r in report["by_requester"]}
    assert requesters == {
        "-": figures([e for e in sent if e.get("requester") is None]),
        "dinsos": figures([e for e in sent if e.get("requester") == "dinsos"]),
    }
    services = {r["service"]: (r["p50_ms"], r["p95_ms"]) for r in report["by_service"]}
    assert services == {
        "-.penduduk.v1": figures([e for e in sent if "publisher" not in e]),
        "dukcapil.penduduk.v1": figures([e for e in sent if "publisher" in e]),
    }
