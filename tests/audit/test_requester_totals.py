"""A requester's calls per service (``GET /me/calls``, the portal's grants page), summed by
the audit store's SQL on SQLite and PostgreSQL: the figures a plain Python count gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from splp.audit import AuditStore
from splp.audit.reports import requester_totals
from tests.audit.test_evaluation import at


async def test_a_requesters_totals_per_service_are_counted_in_sql(
    audit_store: AuditStore,
) -> None:
    rng = random.Random(15)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    end = start + timedelta(days=3)
    sent = []
    for _ in range(200):  # some before and after the period
        moment = start + timedelta(seconds=rng.randrange(-86400, 4 * 86400))
        sent.append(
            at(
                moment,
                requester=rng.choice(["dinsos", "dinkes"]),
                service=rng.choice(["penduduk", "keluarga"]),
                status=rng.choice([200, 200, 404, 500, 403, 429]),
            )
        )
    await audit_store.append([(e, None) for e in sent])
    rows = await requester_totals(audit_store, "dinsos", start, end)
    expected = []
    for service in ("keluarga", "penduduk"):
        mine = [
            e
            for e in sent
            if e["requester"] == "dinsos"
            and e["service"] == service
            and start <= datetime.fromisoformat(e["time"]) < end
        ]
        expected.append(
            {
                "service": f"dukcapil.{service}.v1",
                "calls": len(mine),
                "errors": sum(1 for e in mine if e["status"] in (404, 500)),
                "denied": sum(1 for e in mine if e["status"] == 403),
                "throttled": sum(1 for e in mine if e["status"] == 429),
            }
        )
    assert rows == expected
    assert all(row["calls"] > 0 for row in rows)
    assert await requester_totals(audit_store, "bapenda", start, end) == []
    assert (
        await requester_totals(
            audit_store, "dinsos", end + timedelta(days=2), end + timedelta(days=3)
        )
        == []
    )
