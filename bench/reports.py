"""The yearly evaluation report on a year of call events in PostgreSQL: time and memory.

``python -m bench.reports [--events 5000000] [--postgres URL] [--keep]``

1. creates a throw-away database ``splp_bench_reports_<random>`` on the server of
   ``--postgres`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and migrates
   the audit store into it;
2. loads ``--events`` call events spread evenly over 2026 (WIB) in one
   ``INSERT ... SELECT FROM generate_series`` on the server (no row passes through Python):
   8 publishers, 40 services, 5 operations, 60 requesting ODs; 4% 404, 1% 5xx, 2% denied,
   1.5% throttled, 0.1% dropped; latencies from an exponential distribution (mean 40 ms);
   each event's text about 300 bytes, as the adapters' events are;
3. runs the yearly report (``evaluation(store, Period("2026"))``, then its PDF and XLSX)
   in a child process, and reports its wall time and peak RSS (``ru_maxrss``) - the
   database server's own work (its sorts, within ``work_mem``) is not in that RSS;
4. drops the database (unless ``--keep``; ``--reuse URL`` reports on a kept one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
import uuid
from typing import Any

from sqlalchemy import text

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_SECONDS, TARGET_MIB = 15.0, 200.0

LOAD = """
INSERT INTO audit_records (seq, event_id, at, kind, theme, publisher, service, operation,
    major, requester, status, duration_ms, event, flag, prev_hash, hash)
SELECT i,
    md5(i::text),
    timestamptz '2025-12-31 17:00:00+00'
        + ((i - 1) * (365.0 * 86400 / CAST(:n AS bigint))) * interval '1 second',
    CASE WHEN i % 50 = 0 THEN 'denied' WHEN i % 67 = 0 THEN 'throttled'
         WHEN i % 1000 = 1 THEN 'dropped' ELSE 'response' END,
    'kependudukan',
    'od-penerbit-' || (i % 8),
    'layanan-' || (i % 40),
    'operasi-' || (i % 5),
    1,
    'od-' || ((i * 7919) % 60),
    CASE WHEN i % 50 = 0 THEN 403 WHEN i % 67 = 0 THEN 429 WHEN i % 1000 = 1 THEN NULL
         WHEN i % 25 = 0 THEN 404 WHEN i % 100 = 3 THEN 500 + (i % 5) ELSE 200 END,
    CASE WHEN i % 1000 = 1 THEN NULL ELSE round((-ln(1 - random()) * 40)::numeric, 3) END,
    '{"id":"' || md5(i::text) || '","kind":"response","source":"adapter","pad":"'
        || repeat('x', 220) || '"}',
    NULL,
    repeat('0', 64),
    repeat('0', 64)
FROM generate_series(CAST(1 AS bigint), CAST(:n AS bigint)) AS i
"""

CHILD = """
import asyncio, json, resource, sys, time
from splp.audit.evaluation import Period, evaluation
from splp.audit.evaluation_documents import to_pdf, to_xlsx
from splp.audit.store import AuditStore

async def main():
    store = AuditStore(sys.argv[1])
    started = time.perf_counter()
    report = await evaluation(store, Period.parse("2026"))
    aggregated = time.perf_counter() - started
    pdf, xlsx = to_pdf(report), to_xlsx(report)
    documents = time.perf_counter() - started - aggregated
    await store.close()
    if len(sys.argv) > 2:
        from pathlib import Path
        Path(sys.argv[2], "evaluasi-2026.pdf").write_bytes(pdf)
        Path(sys.argv[2], "evaluasi-2026.xlsx").write_bytes(xlsx)
    print(json.dumps({
        "aggregate_s": round(aggregated, 2),
        "documents_s": round(documents, 2),
        "calls": report["totals"]["calls"],
        "services": len(report["by_service"]),
        "requesters": len(report["by_requester"]),
        "p50_ms": report["totals"]["p50_ms"],
        "p95_ms": report["totals"]["p95_ms"],
        "pdf_bytes": len(pdf),
        "xlsx_bytes": len(xlsx),
    }))

asyncio.run(main())
"""


def with_database(server: str, name: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + name


async def admin(server: str, statement: str) -> None:
    from splp.db import create_engine

    engine = create_engine(server.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def load(url: str, events: int) -> float:
    from splp.audit.store import AuditStore

    store = AuditStore(url)
    try:
        await store.migrate()
        started = time.perf_counter()
        async with store.engine.begin() as connection:
            await connection.execute(text(LOAD), {"n": events})
        async with store.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE audit_records"))
        return time.perf_counter() - started
    finally:
        await store.close()


def run_report(url: str, save: str | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, *([save] if save else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"the report failed:\n{child.stderr}")
    figures: dict[str, Any] = json.loads(child.stdout)
    # ru_maxrss of the children is in KiB on Linux; this parent has one child only
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {**figures, "wall_s": round(wall, 2), "peak_rss_mib": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--postgres", default=DEFAULT_SERVER)
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    parser.add_argument("--reuse", metavar="URL", help="Report on this loaded database only.")
    parser.add_argument("--save", metavar="DIR", help="Write the PDF and XLSX into DIR.")
    args = parser.parse_args()
    if args.reuse:
        print(json.dumps(run_report(args.reuse, args.save), indent=2))
        return
    name = f"splp_bench_reports_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(args.postgres, f'CREATE DATABASE "{name}"'))
    url = with_database(args.postgres, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    done = False
    try:
        print(f"loading {args.events:,} events into {name} ...", flush=True)
        loaded = asyncio.run(load(url, args.events))
        print(f"loaded in {loaded:.1f} s (with VACUUM ANALYZE)", flush=True)
        figures = run_report(url, args.save)
        done = True
    finally:
        if not (args.keep and done):
            asyncio.run(admin(args.postgres, f'DROP DATABASE "{name}" WITH (FORCE)'))
        else:
            print(f"kept: --reuse {url}", flush=True)
    figures["load_s"] = round(loaded, 1)
    figures["events"] = args.events
    print(json.dumps(figures, indent=2))
    verdict = figures["wall_s"] <= TARGET_SECONDS and figures["peak_rss_mib"] <= TARGET_MIB
    print(
        f"yearly report: {figures['wall_s']} s wall (aggregation {figures['aggregate_s']} s, "
        f"PDF+XLSX {figures['documents_s']} s), peak RSS {figures['peak_rss_mib']} MiB: "
        f"{'within' if verdict else 'OUTSIDE'} the target of {TARGET_SECONDS:.0f} s and "
        f"{TARGET_MIB:.0f} MB"
    )


if __name__ == "__main__":
    main()
