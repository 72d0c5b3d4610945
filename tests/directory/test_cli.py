"""The Pasal 7 walk through the ``splp`` command, against a real uvicorn server.

Two agencies (Dukcapil publishes, Dinsos requests), a service published, a request, the
administrator's approval, the publisher's grant, and steps that are refused: the wrong
party (exit 3) and an illegal step (409, exit 1), each as one line on stderr.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from splp.cli import app
from splp.control_plane import close_app, create_app
from splp.directory_service import Store, dump
from splp.http_server import serve_app
from tests.directory.conftest import DEMO, directory_settings


class Cli:
    def __init__(self, url: str, database_url: str) -> None:
        self.url = url
        self.database_url = database_url
        self.tokens: dict[str, str] = {}
        self.runner = CliRunner()

    async def __call__(self, party: str | None, *args: str) -> Result:
        env = {
            "SPLP_DIRECTORY_URL": self.url,
            "SPLP_DATABASE_URL": self.database_url,
            "SPLP_TOKEN": self.tokens.get(party, "") if party else "",
        }
        # the server runs on this event loop: the (synchronous) command runs beside it
        return await asyncio.to_thread(self.runner.invoke, app, list(args), env=env)

    async def ok(self, party: str | None, *args: str) -> str:
        result = await self(party, *args)
        assert result.exit_code == 0, (args, result.output)
        return result.stdout

    async def refused(self, party: str | None, code: int, *args: str) -> str:
        result = await self(party, *args)
        assert result.exit_code == code, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0]


@pytest.fixture
async def cli(store: Store) -> AsyncIterator[Cli]:
    app_ = create_app(directory_settings(store.url), store=store)
    async with serve_app(app_) as url:
        yield Cli(url, store.url)
    await close_app(app_)


async def test_pasal_7_walk_through_the_cli(cli: Cli, tmp_path: Path) -> None:
    out = await cli.ok(None, "directory", "init", "--admin", "kominfo")
    cli.tokens["kominfo"] = out.strip().splitlines()[-1]
    assert "shown once" in out
    again = await cli.ok(None, "directory", "init")
    assert "exists already" in again and "splp_" not in again

    for name, role in (("dukcapil", "publisher"), ("dinsos", "requester")):
        created = json.loads(
            await cli.ok("kominfo", "party", "add", name, "--role", role, "--json")
        )
        assert created["party"]["roles"] == [role]
        cli.tokens[name] = created["token"]
    assert "theme kependudukan added" in await cli.ok(
        "kominfo", "theme", "add", "kependudukan", "--title", "Population"
    )
    checked = await cli.ok(
        "dukcapil", "service", "publish", str(DEMO / "penduduk.yaml"), "--dry-run"
    )
    assert "dry run: dukcapil.penduduk.v1 version 1.0.0: a new service" in checked
    assert "nothing published" in checked
    assert json.loads(await cli.ok("dinsos", "service", "list", "--json")) == []
    published = await cli.ok("dukcapil", "service", "publish", str(DEMO / "penduduk.yaml"))
    assert "published dukcapil.penduduk.v1 version 1.0.0" in published
    breaking = yaml.safe_load((DEMO / "penduduk.yaml").read_text(encoding="utf-8"))
    breaking["version"] = "1.1.0"
    breaking["operations"]["get-by-nik"]["request"]["required"] = ["nik", "purpose"]
    breaking["operations"]["get-by-nik"]["request"]["properties"]["purpose"] = {"type": "string"}
    (tmp_path / "breaking.json").write_text(json.dumps(breaking), encoding="utf-8")
    refused = await cli(
        "dukcapil", "service", "publish", str(tmp_path / "breaking.json"), "--dry-run"
    )
    assert refused.exit_code == 1, refused.output
    assert "against 1.0.0: BREAKING" in refused.stdout
    assert "breaks: operation get-by-nik: request field purpose is now required" in refused.stdout

    listed = json.loads(
        await cli.ok("dinsos", "service", "list", "--theme", "kependudukan", "--json")
    )
    assert [s["ref"] for s in listed] == ["dukcapil.penduduk.v1"]
    shown = await cli.ok("dinsos", "service", "show", "dukcapil.penduduk.v1")
    assert "get-by-nik" in shown and '"pattern": "^[0-9]{16}$"' in shown

    ask = ["access", "request", "dukcapil.penduduk.v1", "--operations", "get-by-nik"]
    ask += ["--reason", "bansos eligibility checks", "--purpose", "bansos eligibility"]
    line = await cli.refused("dinsos", 1, *ask)
    assert "422" in line and "legal_basis, contact" in line, line
    ask += ["--legal-basis", "Permensos 3/2021 Pasal 5", "--contact", "Kabid Linjamsos"]
    far = (date.today() + timedelta(days=400)).isoformat()
    line = await cli.refused("dinsos", 1, *ask, "--until", far)
    assert "422" in line and "expires_wanted" in line and "365 days" in line, line
    line = await cli.refused("dinsos", 2, *ask, "--until", "2030-02-30")
    assert "not a date" in line, line
    requested = await cli.ok("dinsos", *ask)
    match = re.match(r"#(\d+)\s+submitted", requested)
    assert match, requested
    rid = match.group(1)

    line = await cli.refused("dinsos", 3, "access", "approve", rid, "--reason", "self-service")
    assert "administrator" in line
    line = await cli.refused("kominfo", 1, "access", "approve", rid, "--reason", "mandate")
    assert "data_protection_note" in line, line
    approved = await cli.ok(
        "kominfo",
        "access",
        "approve",
        rid,
        "--reason",
        "mandate",
        "--data-protection-note",
        "purpose and legal basis checked",
    )
    assert "approved" in approved
    line = await cli.refused("kominfo", 3, "access", "grant", rid)
    assert "owns the service" in line
    line = await cli.refused("dukcapil", 2, "access", "grant", rid, "--until", "2030-13-01")
    assert "not a date" in line
    line = await cli.refused("dukcapil", 1, "access", "grant", rid, "--quota", "60")
    assert "expires_at" in line, line
    until = (date.today() + timedelta(days=20)).isoformat()
    granted = await cli.ok(
        "dukcapil",
        "access",
        "grant",
        rid,
        "--quota",
        "60",
        "--until",
        until,
        "--fields",
        "nik,name,village",
    )
    assert "granted" in granted and "60/min" in granted and "fields name,nik,village" in granted
    expiring = json.loads(await cli.ok("kominfo", "access", "expiring", "--json"))
    assert [(g["request_id"], g["publisher"], g["fields"]) for g in expiring] == [
        (int(rid), "dukcapil", ["name", "nik", "village"])
    ]
    assert json.loads(await cli.ok("dinsos", "access", "expiring", "--days", "10", "--json")) == []

    line = await cli.refused("dukcapil", 1, "access", "resume", rid, "--reason", "again")
    assert "409" in line and "cannot resume a request that is granted" in line
    line = await cli.refused("dinsos", 1, "access", "request", "dukcapil.kk.v1", "--reason", "x")
    assert "unknown service" in line

    mine = json.loads(await cli.ok("dinsos", "access", "grants", "--json"))
    assert [(g["request_id"], g["quota_per_minute"]) for g in mine] == [(int(rid), 60)]
    theirs = await cli.ok("dukcapil", "access", "grants", "--service", "dukcapil.penduduk.v1")
    assert "dinsos" in theirs and "60/min" in theirs

    requests = json.loads(await cli.ok("dinsos", "access", "list", "--json"))
    assert [(r["id"], r["state"]) for r in requests] == [(int(rid), "granted")]
    wanted = (date.today() + timedelta(days=30)).isoformat()
    other = json.loads(await cli.ok("dinsos", *ask, "--until", wanted, "--json"))
    assert other["state"] == "submitted" and other["expires_wanted"].startswith(wanted), other
    history = json.loads(await cli.ok("kominfo", "access", "history", rid, "--json"))
    assert [(e["step"], e["actor"]) for e in history] == [
        ("request", "dinsos"),
        ("approve", "kominfo"),
        ("grant", "dukcapil"),
    ]
    assert history[1]["reason"] == "mandate"

    rotated = await cli.ok("kominfo", "party", "token", "dinsos", "--json")
    old, cli.tokens["dinsos"] = cli.tokens["dinsos"], json.loads(rotated)["token"]
    assert "granted" in await cli.ok("dinsos", "access", "list")
    cli.tokens["old"] = old
    assert "401" in await cli.refused("old", 3, "access", "list")

    line = await cli.refused(None, 2, "party", "list")
    assert "SPLP_TOKEN" in line
    cli.tokens["nobody"] = "splp_wrong"
    line = await cli.refused("nobody", 3, "party", "list")
    assert "401" in line


async def test_backup_and_restore_through_the_cli(cli: Cli, store: Store, tmp_path: Path) -> None:
    out = await cli.ok(None, "directory", "init")
    cli.tokens["admin"] = out.strip().splitlines()[-1]
    await cli.ok("admin", "theme", "add", "kependudukan")
    await cli.ok("admin", "party", "add", "dukcapil", "--role", "publisher")
    backup = tmp_path / "directory.json"
    assert "backed up" in await cli.ok(None, "directory", "backup", str(backup))
    copy_url = f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
    restored = await cli.ok(None, "directory", "restore", str(backup), "--database-url", copy_url)
    assert "restored" in restored
    copy = Store(copy_url)
    try:
        assert await dump(copy) == await dump(store)
    finally:
        await copy.close()
    line = await cli.refused(None, 2, "directory", "restore", str(backup))
    assert "not empty" in line
    (tmp_path / "junk.json").write_text("{")
    line = await cli.refused(None, 2, "directory", "restore", str(tmp_path / "junk.json"))
    assert "not JSON" in line


def test_unreachable_directory_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["service", "list"],
        env={"SPLP_DIRECTORY_URL": "http://127.0.0.1:1", "SPLP_TOKEN": "splp_x"},
    )
    assert result.exit_code == 4
    assert result.stderr.startswith("error: directory http://127.0.0.1:1 is unreachable")


async def test_people_are_added_listed_reset_and_disabled(cli: Cli) -> None:
    import httpx

    out = await cli.ok(None, "directory", "init", "--admin", "kominfo")
    cli.tokens["kominfo"] = out.strip().splitlines()[-1]
    await cli.ok("kominfo", "party", "add", "dinsos", "--role", "requester")
    created = json.loads(
        await cli.ok(
            "kominfo",
            "user",
            "add",
            "dinsos",
            "Siti@Dinsos.go.id",
            "--role",
            "requester",
            "--name",
            "Siti Aminah",
            "--nip",
            "198001012006042001",
            "--json",
        )
    )
    assert created["user"]["email"] == "siti@dinsos.go.id"
    assert created["user"]["nip"] == "198001012006042001"
    link = created["setup_link"]
    assert link.startswith(cli.url + "/auth/set-password?token=splp_")
    password = "kata sandi yang cukup panjang"
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link)
        assert page.status_code == 200 and "Atur kata sandi" in page.text
        token = created["setup_token"]
        form = {"token": token, "password": password, "password_again": password}
        saved = await browser.post(cli.url + "/auth/set-password/form", data=form)
        assert "Kata sandi tersimpan" in saved.text
    listed = json.loads(await cli.ok("kominfo", "user", "list", "--party", "dinsos", "--json"))
    assert [(u["email"], u["state"]) for u in listed] == [("siti@dinsos.go.id", "active")]
    text = await cli.ok("kominfo", "user", "reset-password", "siti@dinsos.go.id")
    assert "set-password link (shown once" in text and "/auth/set-password?token=splp_" in text
    disabled = json.loads(await cli.ok("kominfo", "user", "disable", "siti@dinsos.go.id", "--json"))
    assert disabled["state"] == "disabled"
    # bad input: one line each, with the policy's exit code
    line = await cli.refused(
        "kominfo", 1, "user", "add", "dinsos", "a@dinsos.go.id", "--role", "publisher"
    )
    assert "does not hold the role(s) publisher" in line
    line = await cli.refused(
        "kominfo", 1, "user", "add", "dinsos", "siti@dinsos.go.id", "--role", "requester"
    )
    assert "exists already" in line
    line = await cli.refused("kominfo", 1, "user", "disable", "nobody@dinsos.go.id")
    assert "no person" in line
    missing_role = await cli("kominfo", "user", "add", "dinsos", "b@dinsos.go.id")
    assert missing_role.exit_code == 2 and "--role" in missing_role.output
    line = await cli.refused("dinsos-token-missing", 2, "user", "list")
    assert "no API token" in line
