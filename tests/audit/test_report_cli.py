"""``splp report usage`` and ``splp report abuse`` through a real directory server: they
count what the test sent through the broker and the real sink."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from splp.audit import AuditSink, AuditStore
from splp.cli import app
from splp.control_plane import close_app, create_app
from splp.http_server import serve_app
from splp.settings import Settings
from tests.audit.conftest import events, publish, trusting
from tests.audit.test_sink import running, wait_count
from tests.directory.conftest import Api, directory_settings


class Report:
    def __init__(self, url: str, token: str, day: str) -> None:
        self.env = {"SPLP_DIRECTORY_URL": url, "SPLP_TOKEN": token}
        self.day = day  # the UTC day the events were stored on, read once they were

    async def __call__(self, *args: str, token: str | None = None) -> Result:
        env = {**self.env, **({"SPLP_TOKEN": token} if token is not None else {})}
        runner = CliRunner()
        return await asyncio.to_thread(lambda: runner.invoke(app, ["report", *args], env=env))


@pytest.fixture
async def report(api: Api, broker: Settings, sink_queue: str) -> AsyncIterator[Report]:
    """Sent through the broker and stored by the sink: dinsos 7 calls (5 x 200, 2 x 500),
    od-a 3 denied, od-b 4 throttled and 1 answered."""
    sent = [
        events(5),
        events(2, status=500),
        events(3, requester="od-a", status=403),
        events(4, requester="od-b", status=429),
        events(1, requester="od-b"),
    ]
    await publish(broker, sent)
    store = AuditStore(str(api.app.state.settings.database_url))  # type: ignore[attr-defined]
    sink = AuditSink(
        AuditStore(store.url), broker.broker_url, queue=sink_queue, settings=trusting(broker)
    )
    async with running(sink):
        assert await wait_count(store, 15) == 15
    day = datetime.now(UTC).date().isoformat()
    await sink.store.close()
    await store.close()
    directory = create_app(directory_settings(store.url))
    async with serve_app(directory) as url:
        yield Report(url, api.tokens["inspektorat"], day)
    await close_app(directory)


async def test_usage_counts_what_was_sent(report: Report, tmp_path: Path) -> None:
    result = await report("usage", "--from", report.day, "--to", report.day, "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    [service] = body["by_service"]
    assert (service["day"], service["service"]) == (report.day, "dukcapil.penduduk.v1")
    assert (service["calls"], service["errors"]) == (15, 2)
    assert (service["denied"], service["throttled"]) == (3, 4)
    requesters = {r["requester"]: r for r in body["by_requester"]}
    assert {n: (r["calls"], r["errors"]) for n, r in requesters.items()} == {
        "dinsos": (7, 2),
        "od-a": (3, 0),
        "od-b": (5, 0),
    }

    result = await report("usage", "--from", report.day, "--to", report.day, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(r["by"], r["name"], r["calls"]) for r in rows} == {
        ("service", "dukcapil.penduduk.v1", "15"),
        ("requester", "dinsos", "7"),
        ("requester", "od-a", "3"),
        ("requester", "od-b", "5"),
    }

    chart = tmp_path / "usage.svg"
    result = await report("usage", "--to", report.day, "--chart", str(chart))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Usage from ") and lines[0].endswith(f"to {report.day}")
    [dinsos] = [line for line in lines if " dinsos " in line]
    assert dinsos.split()[:5] == [report.day, "dinsos", "7", "2", str(round(2 / 7, 4))]
    svg = chart.read_text()
    assert svg.startswith("<svg") and ">15<" in svg


async def test_abuse_ranks_the_refused(report: Report) -> None:
    result = await report("abuse", "--json")
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.stdout)["requesters"]
    assert [(r["requester"], r["denied"], r["throttled"]) for r in ranked] == [
        ("od-b", 0, 4),
        ("od-a", 3, 0),
    ]
    lines = (await report("abuse", "--top", "1")).stdout.splitlines()
    assert lines[0].split() == ["requester", "refused", "denied", "throttled", "calls"]
    assert lines[1:] and lines[1].split() == ["od-b", "4", "0", "4", "5"] and len(lines) == 2


async def test_reports_are_for_monitors_and_administrators(report: Report, api: Api) -> None:
    for party in ("dinsos", "dukcapil"):
        result = await report("usage", token=api.tokens[party])
        assert result.exit_code == 3 and result.stderr.startswith("error: "), result.output
    bad = await report("usage", "--from", "2026-13-01")
    assert bad.exit_code == 2
