"""The supervision report (Pasal 8(6)) and the follow-ups of misuse hits, through the API
and through ``splp report pengawasan`` / ``splp supervision note`` on a real server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from splp.cli import app as cli
from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from splp.directory_service.models import AccessEvent, AccessRequest, ApiToken, Party
from splp.directory_service.supervision import HitIn, raise_hit
from splp.directory_service.supervision_report import WIB, Period
from splp.http_server import serve_app
from tests.directory.conftest import Api, directory_settings, walk


def test_periods_are_cut_at_wib_midnight() -> None:
    year = Period.parse("2026")
    assert year.since == datetime(2025, 12, 31, 17, tzinfo=UTC)
    assert year.until == datetime(2026, 12, 31, 17, tzinfo=UTC)
    first = Period.parse("2026-S1")
    assert (first.since, first.until) == (year.since, datetime(2026, 6, 30, 17, tzinfo=UTC))
    december = Period.parse("2026-12")
    assert december.until == datetime(2026, 12, 31, 17, tzinfo=UTC)
    for bad in ("2026-S3", "2026-13", "26", "2026-11-01", "1999"):
        with pytest.raises(ValueError, match=bad):
            Period.parse(bad)


def this_month() -> str:
    return datetime.now(WIB).strftime("%Y-%m")


async def test_the_checklist_names_each_finding(
    api: Api, store: Store, penduduk: dict[str, Any]
) -> None:
    proper = await walk(api, penduduk, "granted")
    unapproved = await walk(api, penduduk, "granted")
    expired = await walk(api, penduduk, "granted")
    rotated = await api.post("/parties/dinsos/broker-password", headers=api.as_("admin"))
    assert rotated.status_code == 200
    async with store.session() as session:
        await session.execute(
            delete(AccessEvent).where(
                AccessEvent.request_id == unapproved, AccessEvent.step == "approve"
            )
        )
        past = datetime.now(UTC) - timedelta(days=1)
        await session.execute(
            update(AccessRequest).where(AccessRequest.id == expired).values(expires_at=past)
        )
        old = datetime.now(UTC) - timedelta(days=400)
        bapenda = select(Party.id).where(Party.name == "bapenda").scalar_subquery()
        await session.execute(
            update(ApiToken).where(ApiToken.party_id == bapenda).values(created_at=old)
        )
        await session.execute(
            update(Party).where(Party.name == "dukcapil").values(broker_password_hash="x" * 40)
        )
        await session.commit()

    answer = await api.get(
        "/supervision/report", params={"period": this_month()}, headers=api.as_("inspektorat")
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    checks = {od["party"]: od["checks"] for od in report["ods"]}
    dinsos = checks["dinsos"]
    assert dinsos["approved_first"]["status"] == "finding"
    assert dinsos["approved_first"]["without_approval"] == [unapproved]
    assert dinsos["approved_first"]["grants_in_period"] == 3
    assert dinsos["none_expired"] == {"status": "finding", "expired_grants": [expired]}
    assert dinsos["rotated"]["status"] == "ok" and dinsos["rotated"]["broker_password_issued"]
    assert checks["bapenda"]["rotated"]["status"] == "finding"
    assert checks["bapenda"]["rotated"]["overdue"] == ["api_token"]
    assert checks["dukcapil"]["rotated"]["status"] == "unknown"  # issued before it was recorded
    assert checks["dukcapil"]["approved_first"] == {
        "status": "ok",
        "grants_in_period": 0,
        "without_approval": [],
    }
    # no management API in this suite: drift cannot be told
    assert report["broker_drift"] == {"status": "unknown"}
    assert dinsos["no_drift"]["status"] == "unknown"
    assert proper not in dinsos["approved_first"]["without_approval"]

    bad = await api.get(
        "/supervision/report", params={"period": "2026-S3"}, headers=api.as_("admin")
    )
    assert bad.status_code == 422


class Cli:
    def __init__(self, url: str, token: str) -> None:
        self.env = {"SPLP_DIRECTORY_URL": url, "SPLP_TOKEN": token}

    async def __call__(self, *args: str, token: str | None = None) -> Result:
        env = {**self.env, **({"SPLP_TOKEN": token} if token is not None else {})}
        return await asyncio.to_thread(lambda: CliRunner().invoke(cli, list(args), env=env))


async def test_follow_ups_of_a_hit_through_the_cli(api: Api, store: Store) -> None:
    until = datetime.now(UTC)
    hit = HitIn(
        "k1",
        "not_found",
        "dinsos",
        until - timedelta(hours=1),
        until,
        "dukcapil.penduduk.v1",
        None,
        {"calls": 40, "not_found": 31},
    )
    events = api.app.state.events  # type: ignore[attr-defined]
    async with store.sessions() as session:
        raised = await raise_hit(session, events, hit)
        await session.commit()
    assert raised is not None and raised.suspended == []  # the rule does not suspend
    hit_id = raised.hit["id"]
    async with store.sessions() as session:  # the same hit again: not raised twice
        assert await raise_hit(session, events, hit) is None
        again = HitIn("k2", *list(hit.__dict__.values())[1:])
        assert await raise_hit(session, events, again) is None  # its window overlaps

    directory = create_app(directory_settings(store.url))
    async with serve_app(directory) as url:
        run = Cli(url, api.tokens["admin"])
        text = "Dinsos confirmed a faulty import script; fixed"
        noted = await run("supervision", "note", str(hit_id), "--text", text, "--json")
        assert noted.exit_code == 0, noted.output
        assert json.loads(noted.stdout)["hit_id"] == hit_id
        refused = await run(
            "supervision", "note", str(hit_id), "--text", "x", token=api.tokens["inspektorat"]
        )
        assert refused.exit_code != 0 and "403" in refused.output
        missing = await run("supervision", "note", "999999", "--text", "x")
        assert missing.exit_code != 0 and "no misuse hit 999999" in missing.output

        result = await run(
            "report",
            "pengawasan",
            "--period",
            this_month(),
            "--json",
            token=api.tokens["inspektorat"],
        )
        assert result.exit_code == 0, result.output
        [listed] = json.loads(result.stdout)["misuse_hits"]
        assert (listed["id"], listed["rule"], listed["figures"]["not_found"]) == (
            hit_id,
            "not_found",
            31,
        )
        [follow_up] = listed["follow_ups"]
        assert (follow_up["text"], follow_up["author"]) == (text, "admin")

        table = await run("report", "pengawasan", "--period", this_month())
        assert table.exit_code == 0, table.output
        assert "dinsos" in table.stdout and "not_found" in table.stdout
        bad = await run("report", "pengawasan", "--period", "2026-S3")
        assert bad.exit_code != 0
    await close_app(directory)

    kinds = [e for e in await events.pending() if e["kind"] == "admin.supervision-note"]
    [note_event] = kinds
    assert note_event["hit_id"] == hit_id and note_event["actor"] == "admin"
    assert text not in json.dumps(note_event)
