"""``splp report evaluasi`` on real traffic: a whole SPLP (directory, audit sink, broker,
an HTTP adapter in front of a small agency API) walks the Pasal 7 procedure, Dinsos makes
real calls through the bus, and the report counts exactly what was sent, including a
service with no calls and a grant never used. The directory's health probe sees the
service down before its adapter starts and up after (``keluarga`` has no adapter: down
all along), and the report gives the availability that follows from those transitions and
lists each breach of the descriptors' service levels; the misuse watch raises a hit on
Dinsos's unknown NIKs, an administrator records a follow-up, and both are among the
report's supervision findings. Each generated report is in the audit chain with its
sha256, and the chain still verifies."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select
from typer.testing import CliRunner

from splp.adapters import http_adapter, load_http_config
from splp.adapters.from_directory import from_directory
from splp.audit import AuditRecord
from splp.audit.evaluation import WIB
from splp.audit.misuse import parse_rules
from splp.audit.verify import verify
from splp.bus import Client
from splp.cli import app as cli
from splp.control_plane.health_probe import HealthProbe
from splp.control_plane.misuse_watch import MisuseWatch
from splp.demo.agency import RESIDENTS
from splp.demo.stage import Stage, staged
from splp.errors import RemoteError
from splp.http_server import serve_app
from tests.conftest import BASE
from tests.data_protection import NOTE, STATEMENT, grant_terms

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[2] / "splp" / "demo"
ROOT = Path(__file__).resolve().parents[2]
THEME, SERVICE, OPERATION = "kependudukan", "dukcapil.penduduk.v1", "get-by-nik"
UNUSED = "dukcapil.keluarga.v1"
BROKEN = "1508010000000500"  # the agency API fails on this NIK (a publisher failure)
UNKNOWN = "1508019999999999"  # no such resident: 404, the caller's error
SERVICE_LEVEL = {"availability_target": 99.5, "p95_target_ms": 20}
SLOW = 0.03  # the agency API's answer takes 30 ms: above the p95 target of 20 ms
DOWN_FOR = 1.0  # seconds the service stays down, at least, before its adapter starts
FOLLOW_UP = "Dinsos diminta menjelaskan; petugas diingatkan soal NIK uji"


def agency() -> FastAPI:
    api = FastAPI()

    @api.post("/residents/search")  # as the demo agency: the NIK in the body, not the path
    async def resident(search: dict[str, Any]) -> Any:
        await asyncio.sleep(SLOW)
        nik = str(search.get("nik"))
        if nik == BROKEN:
            return JSONResponse({"detail": "database down"}, status_code=500)
        if nik in RESIDENTS:
            return RESIDENTS[nik]
        return JSONResponse({"detail": "not found"}, status_code=404)

    return api


async def walk(stage: Stage, requester: str, service: str, decide: str = "grant") -> int:
    body = {"service": service, "operations": [OPERATION], "reason": "evaluasi", **STATEMENT}
    request = await stage.api(requester, "POST", "/access-requests", body)
    path = f"/access-requests/{request['id']}"
    if decide == "reject":
        await stage.api("admin", "POST", f"{path}/reject", {"reason": "no basis"})
        return int(request["id"])
    await stage.api("admin", "POST", f"{path}/approve", {"reason": "Pasal 7 checked", **NOTE})
    if decide == "grant":
        await stage.api("dukcapil", "POST", f"{path}/grant", {"reason": "ok", **grant_terms()})
    elif decide == "decline":
        await stage.api("dukcapil", "POST", f"{path}/decline", {"reason": "not now"})
    return int(request["id"])


@pytest.fixture
async def traffic() -> AsyncIterator[tuple[Stage, dict[str, int]]]:
    """Dinsos: 3 answered, 2 unknown NIK (404), 1 malformed NIK (400), 1 publisher failure;
    Dinkes holds a grant it never uses; ``keluarga`` is published and never called. The
    health probe runs before the adapter starts (both services down), then until
    ``penduduk`` is up; the misuse watch runs once the calls are stored."""
    async with staged(BASE) as stage:
        await stage.add_party("dukcapil", ["publisher"], "Dinas Kependudukan dan Pencatatan Sipil")
        await stage.add_party("dinsos", ["requester"], "Dinas Sosial")
        await stage.add_party("dinkes", ["requester"], "Dinas Kesehatan")
        await stage.add_party("inspektorat", ["monitor"], "Inspektorat")
        await stage.api("admin", "POST", "/themes", {"name": THEME, "title": "Kependudukan"})
        document = yaml.safe_load((DEMO / "penduduk.yaml").read_text(encoding="utf-8"))
        document["service_level"] = SERVICE_LEVEL
        await stage.api("dukcapil", "POST", "/services", document)
        await stage.api("dukcapil", "POST", "/services", {**document, "service": "keluarga"})
        await walk(stage, "dinsos", SERVICE)
        await walk(stage, "dinkes", SERVICE)
        await walk(stage, "dinkes", UNUSED, decide="reject")
        await walk(stage, "dinsos", UNUSED, decide="decline")

        assert stage.app is not None
        probe = HealthProbe(stage.app.state.store, stage.app.state.events, stage.settings)
        states = {str(p.ref): p.up for p in await probe.probe()}
        assert states == {SERVICE: False, UNUSED: False}  # no adapter consumes yet
        await asyncio.sleep(DOWN_FOR)

        async with serve_app(agency()) as agency_url:
            config, _ = load_http_config(DEMO / "adapter.yaml")
            config.base_url = agency_url
            dukcapil = stage.as_party("dukcapil")
            descriptor, grants = await from_directory(SERVICE, dukcapil)
            adapter = http_adapter(config, descriptor, dukcapil, grants=grants)
            await adapter.start()
            try:
                deadline = time.monotonic() + 15
                while grants.book.find("dinsos", OPERATION) is None:
                    assert time.monotonic() < deadline, "the adapter did not learn the grant"
                    await asyncio.sleep(0.1)
                # the management API counts consumers from statistics a few seconds old
                while not {str(p.ref): p.up for p in await probe.probe()}[SERVICE]:
                    assert time.monotonic() < deadline + 15, "the probe never saw it up"
                    await asyncio.sleep(0.2)
                sent = {"ok": 0, "caller_errors": 0, "publisher_failures": 0}
                async with Client(stage.as_party("dinsos"), name="dinsos-app") as client:
                    for nik in [*RESIDENTS, next(iter(RESIDENTS))]:
                        await client.call(THEME, SERVICE, OPERATION, {"nik": nik}, timeout=10)
                        sent["ok"] += 1
                    for nik, kind in (
                        (UNKNOWN, "caller_errors"),
                        ("1508019999999998", "caller_errors"),
                        ("15-08", "caller_errors"),
                        (BROKEN, "publisher_failures"),
                    ):
                        with pytest.raises(RemoteError):
                            await client.call(THEME, SERVICE, OPERATION, {"nik": nik}, timeout=10)
                        sent[kind] += 1
            finally:
                await adapter.stop(grace=5)
        # the sink stores the adapter's events
        deadline = time.monotonic() + 20
        while await calls_stored(stage) < sum(sent.values()) or len(await transitions(stage)) < 3:
            assert time.monotonic() < deadline, "the sink did not store the calls"
            await asyncio.sleep(0.2)
        rules = parse_rules({"rules": [{"rule": "not_found", "ratio": 0.2, "min_calls": 5}]})
        watch = MisuseWatch(
            rules,
            store=stage.app.state.store,
            audit_store=stage.audit,
            events=stage.app.state.events,
            settings=stage.settings,
        )
        (raised,) = await watch.check()
        hit_id = raised.hit["id"]
        await stage.api("admin", "POST", f"/supervision/hits/{hit_id}/notes", {"text": FOLLOW_UP})
        yield stage, {**sent, "hit_id": hit_id}


async def calls_stored(stage: Stage) -> int:
    async with stage.audit.engine.connect() as connection:
        rows = await connection.scalars(
            select(AuditRecord.seq).where(AuditRecord.kind == "response")
        )
        return len(rows.all())


async def transitions(stage: Stage) -> list[tuple[str, str, datetime]]:
    """The health probe's up and down events as the sink stored them, in order."""
    async with stage.audit.engine.connect() as connection:
        rows = await connection.execute(
            select(AuditRecord.kind, AuditRecord.service, AuditRecord.at)
            .where(AuditRecord.kind.in_(("admin.service-up", "admin.service-down")))
            .order_by(AuditRecord.seq)
        )
        return [(kind, service, moment) for kind, service, moment in rows.all()]


async def report(stage: Stage, *args: str) -> Any:
    env = {"SPLP_DIRECTORY_URL": stage.directory_url, "SPLP_TOKEN": stage.tokens["inspektorat"]}
    runner = CliRunner()
    result = await asyncio.to_thread(
        lambda: runner.invoke(cli, ["report", "evaluasi", *args], env=env)
    )
    assert result.exit_code == 0, result.output
    return result


async def test_the_report_counts_what_was_sent(
    traffic: tuple[Stage, dict[str, int]], tmp_path: Path
) -> None:
    stage, sent = traffic
    hit_id = sent.pop("hit_id")
    month = datetime.now(WIB).strftime("%Y-%m")
    body = json.loads((await report(stage, "--period", month, "--format", "json")).stdout)
    prefix = stage.settings.broker_user_prefix
    calls = sum(sent.values())
    t = body["totals"]
    assert (t["calls"], t["ok"], t["caller_errors"], t["publisher_failures"]) == (
        calls,
        sent["ok"],
        sent["caller_errors"],
        sent["publisher_failures"],
    )
    services = {r["service"]: r for r in body["by_service"]}
    assert services[SERVICE]["calls"] == calls
    assert services[UNUSED]["calls"] == 0
    assert services[SERVICE]["p50_ms"] is not None
    assert services[SERVICE]["p50_ms"] <= services[SERVICE]["p95_ms"]
    assert body["unused_services"] == [UNUSED]
    assert [r["requester"] for r in body["by_requester"]] == ["dinsos"]
    assert body["unused_grants"] == [{"service": SERVICE, "requester": "dinkes"}]
    assert body["by_operation"] == [
        {
            "service": SERVICE,
            "operation": OPERATION,
            **{
                k: services[SERVICE][k]
                for k in (
                    "calls",
                    "ok",
                    "caller_errors",
                    "publisher_failures",
                    "denied",
                    "throttled",
                    "dropped",
                )
            },
        }
    ]
    assert body["cross_tab"]["calls"] == [
        {"service": SERVICE, "requester": "dinsos", "calls": calls}
    ]
    assert not any(prefix in json.dumps(r) for r in body["by_requester"])
    procedure = body["procedure"]
    assert {
        k: procedure[k] for k in ("received", "approved", "rejected", "granted", "declined")
    } == {
        "received": 4,
        "approved": 3,
        "rejected": 1,
        "granted": 2,
        "declined": 1,
    }
    assert procedure["median_hours"]["administrator"] is not None
    assert procedure["approved_not_granted"] == []
    narrative = " ".join(body["narrative"])
    assert f"melayani {calls} panggilan" in narrative
    assert f"{sent['publisher_failures']} panggilan" in narrative

    # availability from the probe's transitions, up to the moment the report was made
    probed = await transitions(stage)
    assert sorted((k.rsplit("-", 1)[1], s) for k, s, _ in probed[:2]) == [
        ("down", "keluarga"),
        ("down", "penduduk"),
    ]
    assert [(k, s) for k, s, _ in probed[2:]] == [("admin.service-up", "penduduk")]
    at = {(k.rsplit("-", 1)[1], s): moment.timestamp() for k, s, moment in probed}
    went_down, came_up = at["down", "penduduk"], at["up", "penduduk"]
    other_down = at["down", "keluarga"]
    until = datetime.fromisoformat(body["availability"]["until"]).timestamp()
    assert came_up - went_down >= DOWN_FOR
    measured = {r["service"]: r for r in body["availability"]["services"]}
    assert body["availability"]["measured"] is True
    expected = round(100 * (until - came_up) / (until - went_down), 3)
    assert measured[SERVICE] == {
        "service": SERVICE,
        "measured": True,
        "availability_percent": expected,
        "observed_seconds": round(until - went_down, 3),
        "down_seconds": round(came_up - went_down, 3),
        "outages": 1,
        "availability_target": SERVICE_LEVEL["availability_target"],
    }
    assert measured[UNUSED]["availability_percent"] == 0.0
    assert measured[UNUSED]["observed_seconds"] == round(until - other_down, 3)
    assert services[SERVICE]["availability"] == expected < SERVICE_LEVEL["availability_target"]
    assert services[SERVICE]["p95_ms"] >= SLOW * 1000 > SERVICE_LEVEL["p95_target_ms"]
    assert body["service_level_breaches"] == [
        {"service": UNUSED, "measure": "availability", "target": 99.5, "actual": 0.0},
        {"service": SERVICE, "measure": "availability", "target": 99.5, "actual": expected},
        {
            "service": SERVICE,
            "measure": "p95_ms",
            "target": 20.0,
            "actual": services[SERVICE]["p95_ms"],
        },
    ]
    assert "3 pelanggaran tingkat layanan" in narrative
    # the misuse hit on the unknown NIKs, with its follow-up
    supervision = body["supervision"]
    assert (supervision["count"], supervision["followed_up"]) == (1, 1)
    (finding,) = supervision["findings"]
    assert (finding["id"], finding["rule"], finding["requester"], finding["service"]) == (
        hit_id,
        "not_found",
        "dinsos",
        SERVICE,
    )
    assert finding["figures"] == {
        "calls": calls,
        "not_found": 2,
        "ratio": round(2 / calls, 4),
    }
    assert [(n["text"], n["author"]) for n in finding["follow_ups"]] == [(FOLLOW_UP, "admin")]
    assert f"#{hit_id} banyak panggilan tidak ditemukan (404)" in narrative

    # the documents; each one is in the chain with its sha256
    files = {}
    for format in ("pdf", "xlsx", "html"):
        target = tmp_path / f"evaluasi.{format}"
        await report(stage, "--period", month, "--format", format, "--output", str(target))
        files[format] = hashlib.sha256(target.read_bytes()).hexdigest()
    assert (tmp_path / "evaluasi.pdf").read_bytes().startswith(b"%PDF")
    async with stage.audit.engine.connect() as connection:
        stored = (
            await connection.execute(
                select(AuditRecord.event, AuditRecord.flag).where(
                    AuditRecord.kind == "admin.report-generated"
                )
            )
        ).all()
    assert [flag for _, flag in stored] == [None] * len(stored)  # valid events
    events = [json.loads(event) for event, _ in stored]
    recorded = {e["format"]: e for e in events}
    assert {f: recorded[f]["sha256"] for f in files} == files
    assert {e["actor"] for e in events} == {"inspektorat"}
    assert {e["period"] for e in events} == {month}
    assert (await verify(stage.audit)).ok

    from openpyxl import load_workbook

    book = load_workbook(tmp_path / "evaluasi.xlsx")
    assert book["Ringkasan"]._charts, "the summary sheet has its charts"
    rows = list(book["Per layanan"].iter_rows(values_only=True))
    assert rows[0][:2] == ("Layanan", "Panggilan")
    assert {r[0]: r[1] for r in rows[1:]} == {SERVICE: calls, UNUSED: 0}
    # made later than the JSON: the same outage, more time observed since
    available = {r[0]: r for r in list(book["Ketersediaan"].iter_rows(values_only=True))[1:]}
    _, percent, target, outages, down, observed = available[SERVICE]
    assert (target, outages, down) == (99.5, 1, round(came_up - went_down, 3))
    assert observed > measured[SERVICE]["observed_seconds"]
    assert percent > expected
    # the sheet's seconds are rounded to the millisecond
    assert abs(percent - 100 * (observed - down) / observed) <= 0.0005 + 0.2 / observed
    assert available[UNUSED][1] == 0.0
    assert len(list(book["Pelanggaran SLA"].iter_rows())) == 1 + 3
    page = (tmp_path / "evaluasi.html").read_text(encoding="utf-8")
    assert FOLLOW_UP in page and "Temuan pengawasan" in page

    if shutil.which("pdftoppm"):  # scripts/setup.sh installs poppler-utils
        shots = ROOT / "build" / "report-screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(
            subprocess.run,
            [
                "pdftoppm",
                "-png",
                "-r",
                "60",
                str(tmp_path / "evaluasi.pdf"),
                str(shots / "evaluasi"),
            ],
            check=True,
        )
        assert list(shots.glob("evaluasi*.png"))

    # a bad period, and a requester, are refused
    env = {"SPLP_DIRECTORY_URL": stage.directory_url, "SPLP_TOKEN": stage.tokens["inspektorat"]}
    runner = CliRunner()
    result = await asyncio.to_thread(
        lambda: runner.invoke(cli, ["report", "evaluasi", "--period", "2026-13"], env=env)
    )
    assert result.exit_code != 0 and "YYYY-MM" in result.output
    refused = await asyncio.to_thread(
        lambda: runner.invoke(
            cli,
            ["report", "evaluasi", "--period", "2026", "--format", "json"],
            env={**env, "SPLP_TOKEN": stage.tokens["dinsos"]},
        )
    )
    assert refused.exit_code != 0 and "monitor" in refused.output
