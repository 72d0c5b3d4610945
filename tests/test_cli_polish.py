"""The ``splp`` command as a whole: help with examples, ``--json``, tables, errors, exit codes.

The command tree is walked from the Typer app itself, so a command added without a help
summary, an example or ``--json`` fails here. Data commands run against a real directory
service (SQLite store, real uvicorn); error paths run as real processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from splp.cli import app
from splp.control_plane import close_app, create_app
from splp.http_server import serve_app
from splp.settings import Settings
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.directory.conftest import DEMO, directory_settings
from tests.test_cli import splp as run_splp

# Commands that print no data, only run until stopped (or narrate): no --json for them.
NO_JSON = {
    "splp adapter run": "a long-running adapter; it logs, it prints no data",
    "splp audit sink": "a long-running consumer; it logs, it prints no data",
    "splp directory serve": "a long-running server; it logs, it prints no data",
    "splp gateway serve": "a long-running server; it logs, it prints no data",
    "splp demo": "a narrated walk-through for people, not data for scripts",
    "splp schema er-diagram": "prints a Mermaid/Markdown document, which is the format asked for",
}
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def commands() -> Iterator[tuple[str, Any]]:
    """Every group and command under ``splp``, as (``splp party add``, click command)."""

    def walk(path: str, command: Any) -> Iterator[tuple[str, Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if not sub.hidden:
                yield from walk(f"{path} {name}", sub)

    yield from walk("splp", typer.main.get_command(app))


COMMANDS = dict(commands())
LEAVES = sorted(path for path, command in COMMANDS.items() if not hasattr(command, "commands"))


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env={**WIDE, **(env or {})})


def examples(command: Any) -> list[str]:
    """The command lines of an epilog (lines that start with ``splp`` or ``VAR=... splp``)."""
    found = []
    for line in (command.epilog or "").splitlines():
        words = line.strip().split()
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words.pop(0)
        if words[:1] == ["splp"]:
            found.append(line.strip())
    return found


def test_the_walk_finds_the_tree() -> None:
    assert {"splp party add", "splp access approve", "splp report usage"} <= set(LEAVES)
    assert "splp access" in COMMANDS and "splp access" not in LEAVES
    for path in NO_JSON:
        assert path in LEAVES, f"stale exemption: {path} is no command"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_has_a_summary_and_examples_one_per_line(path: str) -> None:
    command = COMMANDS[path]
    result = invoke(*path.split()[1:], "--help")
    assert result.exit_code == 0, result.output
    summary = (command.help or "").strip().splitlines()
    assert summary and summary[0].strip(), f"{path} has no one-line summary"
    assert summary[0].strip().split()[0] in result.stdout
    assert "Example" in result.stdout, f"{path}: no example in its help"
    lines = {line.strip() for line in result.stdout.splitlines()}
    shown = examples(command)
    assert shown, f"{path}: the epilog has no example command line"
    for example in shown:  # not reflowed into one paragraph, nothing eaten as markup
        assert example in lines, f"{path}: {example!r} is not a line of its help"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_examples_name_commands_and_options_that_exist(path: str) -> None:
    root = typer.main.get_command(app)
    for example in examples(COMMANDS[path]):
        words = shlex.split(example)
        while words[0] != "splp":
            words.pop(0)
        if ">" in words:
            words = words[: words.index(">")]
        command, args, ctx = root, words[1:], None
        while hasattr(command, "commands"):
            ctx = command.make_context(command.name, [], parent=ctx, resilient_parsing=True)
            command = command.commands[args.pop(0)]
        # parses the example as the command would: an unknown option or a bad value raises
        command.make_context(command.name, args, parent=ctx)


def markup_free(text: str) -> bool:
    """True when rich shows ``text`` as written (``\\[`` being a written ``[``)."""
    return Text.from_markup(text).plain == text.replace("\\[", "[")


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_texts_are_not_eaten_as_rich_markup(path: str) -> None:
    command = COMMANDS[path]
    texts = [command.help or "", command.epilog or ""]
    texts += [getattr(param, "help", None) or "" for param in command.params]
    for text in texts:
        assert markup_free(text), f"{path}: rich markup eats part of {text!r}"


@pytest.mark.parametrize("path", LEAVES)
def test_every_data_command_takes_json(path: str) -> None:
    options = {opt for param in COMMANDS[path].params for opt in getattr(param, "opts", [])}
    if path in NO_JSON:
        return
    assert "--json" in options, f"{path} prints data but has no --json"


# --- against a real directory ------------------------------------------------------------


@dataclass
class Directory:
    url: str
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    request_id: int = 0

    async def run(self, party: str | None, *args: str, **env: str) -> Any:
        environment = {
            "SPLP_DIRECTORY_URL": self.url,
            "SPLP_DATABASE_URL": self.database_url,
            "SPLP_TOKEN": self.tokens.get(party, "") if party else "",
            **env,
        }
        return await asyncio.to_thread(invoke, *args, env=environment)

    async def json(self, party: str | None, *args: str) -> Any:
        result = await self.run(party, *args, "--json")
        assert result.exit_code == 0, (args, result.output)
        return json.loads(result.stdout)  # the whole of stdout is one JSON document


@pytest.fixture(scope="module")
async def directory(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Directory]:
    """A served directory, filled through the CLI's --json output only (Pasal 7 walk)."""
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('polish') / 'splp.db'}"
    app_ = create_app(directory_settings(database_url))
    async with serve_app(app_) as url:
        d = Directory(url, database_url)
        created = await d.json(None, "directory", "init", "--admin", "kominfo")
        d.tokens["kominfo"] = created["token"]
        for name, role in (("dukcapil", "publisher"), ("dinsos", "requester")):
            added = await d.json("kominfo", "party", "add", name, "--role", role)
            d.tokens[name] = added["token"]
        monitor = await d.json("kominfo", "party", "add", "inspektorat", "--role", "monitor")
        d.tokens["inspektorat"] = monitor["token"]
        assert (await d.json("kominfo", "theme", "add", "kependudukan"))["name"] == "kependudukan"
        published = await d.json("dukcapil", "service", "publish", str(DEMO / "penduduk.yaml"))
        assert published["ref"] == "dukcapil.penduduk.v1"
        statement = [f"--{k.replace('_', '-')}={v}" for k, v in STATEMENT.items()]
        request = await d.json(
            "dinsos", "access", "request", "dukcapil.penduduk.v1", "--reason", "bansos", *statement
        )
        d.request_id = request["id"]
        rid = str(d.request_id)
        note = f"--data-protection-note={NOTE['data_protection_note']}"
        approved = await d.json("kominfo", "access", "approve", rid, "--reason", "mandate", note)
        assert approved["state"] == "approved"
        until = grant_terms()["expires_at"]
        granted = await d.json(
            "dukcapil", "access", "grant", rid, "--quota", "60", "--until", until
        )
        assert (granted["state"], granted["quota_per_minute"]) == ("granted", 60)
        client = await d.json("kominfo", "client", "add", "dinsos", "--name", "sipd")
        assert client["client_id"].startswith("splp-app-") and client["client_secret"]
        yield d
    await close_app(app_)


LISTS = [
    ("kominfo", ["party", "list"], list),
    ("dinsos", ["theme", "list"], list),
    ("dinsos", ["theme", "asyncapi", "kependudukan"], dict),
    ("dinsos", ["service", "list", "--theme", "kependudukan"], list),
    ("dinsos", ["service", "show", "dukcapil.penduduk.v1"], dict),
    ("dinsos", ["service", "openapi", "dukcapil.penduduk.v1"], dict),
    ("dinsos", ["access", "list"], list),
    ("kominfo", ["access", "history", "{rid}"], list),
    ("dinsos", ["access", "grants"], list),
    ("dukcapil", ["access", "grants", "--service", "dukcapil.penduduk.v1"], list),
    ("inspektorat", ["report", "usage"], dict),
    ("inspektorat", ["report", "abuse"], dict),
    ("dinsos", ["client", "list"], list),
    ("inspektorat", ["client", "list", "dinsos"], list),
]


@pytest.mark.parametrize(("party", "args", "kind"), LISTS, ids=[" ".join(a) for _, a, _ in LISTS])
async def test_json_is_one_document_with_data(
    directory: Directory, party: str, args: list[str], kind: type
) -> None:
    args = [a.format(rid=directory.request_id) for a in args]
    found = await directory.json(party, *args)
    assert isinstance(found, kind) and found, found


async def test_json_output_has_stable_keys(directory: Directory) -> None:
    [party] = [p for p in await directory.json("kominfo", "party", "list") if p["name"] == "dinsos"]
    assert {"name", "title", "roles"} <= set(party)
    [request] = await directory.json("dinsos", "access", "list")
    assert {"id", "state", "requester", "service", "operations"} <= set(request)
    usage = await directory.json("inspektorat", "report", "usage")  # --json = --format json
    as_format = await directory.run("inspektorat", "report", "usage", "--format", "json")
    assert usage == json.loads(as_format.stdout)


async def test_clients_are_added_listed_and_revoked(directory: Directory) -> None:
    added = await directory.run(
        "dinsos", "client", "add", "dinsos", "--name", "e-bansos", "--api-key"
    )
    assert added.exit_code == 0, added.output
    lines = dict(line.split(": ", 1) for line in added.stdout.splitlines()[1:])
    client_id = lines["client id"]
    assert lines["client secret (shown once)"] and lines["API key (shown once)"]
    listed = await directory.run("kominfo", "client", "list", "dinsos")
    header = ["name", "client_id", "api_key", "created_at", "secret_rotated_at"]
    assert listed.stdout.splitlines()[0].split() == header
    rows = [line.split()[:3] for line in listed.stdout.splitlines()]
    assert ["e-bansos", client_id, "True"] in rows
    assert lines["client secret (shown once)"] not in listed.stdout
    rotated = await directory.run("dinsos", "client", "rotate", "dinsos", client_id)
    assert rotated.exit_code == 0, rotated.output
    fresh = dict(line.split(": ", 1) for line in rotated.stdout.splitlines()[1:])
    assert fresh["client id"] == client_id
    assert fresh["client secret (shown once)"] not in ("", lines["client secret (shown once)"])
    [row] = [c for c in await directory.json("dinsos", "client", "list") if c["name"] == "e-bansos"]
    assert row["secret_rotated_at"] is not None
    revoked = await directory.run("dinsos", "client", "revoke", "dinsos", client_id)
    assert revoked.exit_code == 0 and f"({client_id}) of dinsos revoked" in revoked.stdout
    names = [c["name"] for c in await directory.json("dinsos", "client", "list")]
    assert "e-bansos" not in names
    every = await directory.json("dinsos", "client", "list", "--revoked")
    assert [c["revoked_at"] is not None for c in every if c["name"] == "e-bansos"] == [True]
    for party, args, code, words in [
        ("dinsos", ["client", "revoke", "dinsos", client_id], 1, "revoked already"),
        ("dinsos", ["client", "revoke", "dinsos", "splp-app-nope"], 1, "no application"),
        ("dinsos", ["client", "rotate", "dinsos", client_id], 1, "revoked already"),
        ("dukcapil", ["client", "rotate", "dinsos", client_id], 3, "be dinsos itself"),
        ("dinsos", ["client", "add", "dinsos", "--name", "Bad.Name"], 1, "name"),
        ("dukcapil", ["client", "add", "dukcapil", "--name", "x"], 1, "not a requester"),
        ("dukcapil", ["client", "list", "dinsos"], 3, "be dinsos itself"),
        ("dinsos", ["client", "add", "bapenda", "--name", "x"], 3, "be bapenda itself"),
        ("kominfo", ["client", "add", "nobody", "--name", "x"], 1, "no party named"),
        ("dinsos", ["client", "add", "dinsos"], 2, "--name"),
    ]:
        result = await directory.run(party, *args)
        assert result.exit_code == code, (args, result.output)
        assert words in result.output, (args, result.output)


async def test_lists_are_tables_on_a_terminal_and_columns_when_piped(
    directory: Directory,
) -> None:
    piped = await directory.run("kominfo", "party", "list")
    assert piped.exit_code == 0, piped.output
    lines = piped.stdout.splitlines()
    assert lines[0].split() == ["name", "roles", "title"]
    assert any(line.split()[:2] == ["dinsos", "requester"] for line in lines[1:])
    assert "\x1b[" not in piped.stdout and "─" not in piped.stdout

    terminal = await directory.run("kominfo", "party", "list", TTY_COMPATIBLE="1")
    assert terminal.exit_code == 0, terminal.output
    assert "─" * 10 in terminal.stdout  # rich's SIMPLE_HEAD rule under the bold header
    assert "\x1b[1mname" in terminal.stdout
    assert "dinsos" in terminal.stdout and "requester" in terminal.stdout


async def test_a_title_is_data_not_markup(directory: Directory) -> None:
    await directory.json("kominfo", "party", "add", "odx", "--role", "requester", "--title", "[b]X")
    terminal = await directory.run("kominfo", "party", "list", TTY_COMPATIBLE="1")
    assert "[b]X" in terminal.stdout


# --- errors: one line, an exit code, a traceback only with --debug ------------------------


async def splp(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``splp ARGS`` in a real process, with no token from the environment."""
    return await run_splp(*args, env={"SPLP_TOKEN": "", **(env or {})})


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


NOWHERE = {"SPLP_DIRECTORY_URL": "http://127.0.0.1:1", "SPLP_TOKEN": "splp_x"}
DEAD_BROKER = {"SPLP_AMQP_URL": "amqp://guest:s3cret-pw@127.0.0.1:1/"}


PG_NOWHERE = "postgresql+asyncpg://u@127.0.0.1:1/x"
PG_NO_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1/nodb_x"
SQLITE_NO_FOLDER = "sqlite+aiosqlite:////nonexistent/dir/audit.db"
FAILURES = {
    "unreachable directory": (["party", "list"], NOWHERE, 4, "http://127.0.0.1:1 is unreachable"),
    "no token": (["party", "list"], {}, 2, "SPLP_TOKEN"),
    "bad argument": (["access", "approve", "x", "--reason", "r"], {}, 2, "request_id"),
    "missing option": (["access", "approve", "3"], {}, 2, "--reason"),
    "unknown option": (["party", "add", "x", "--role", "requester", "--bogus"], {}, 2, "--bogus"),
    "unknown command": (["nosuch"], {}, 2, "nosuch"),
    "bad JSON body": (["call", "uji", "uji.echo.v1", "echo", "{bad"], {}, 2, "not valid JSON"),
    "missing file": (["service", "publish", "/nonexistent/p.yaml"], NOWHERE, 2, "cannot read"),
    "bad choice": (["report", "usage", "--format", "xml"], NOWHERE, 2, "--format"),
    "bad database URL": (["directory", "backup", "b.json", "--database-url", "x"], {}, 2, "URL"),
    "database refused": (
        ["directory", "backup", "b.json", "--database-url", PG_NOWHERE],
        {},
        4,
        "cannot connect",
    ),
    "no database folder": (
        ["directory", "init", "--database-url", SQLITE_NO_FOLDER],
        {},
        4,
        "cannot use the database",
    ),
    "no store to read": (
        ["audit", "verify", "--database-url", SQLITE_NO_FOLDER],
        {},
        2,
        "no store at /nonexistent/dir/audit.db: run splp directory init first",
    ),
    "no such database": (
        ["audit", "verify", "--database-url", PG_NO_DATABASE],
        {},
        4,
        'database "nodb_x" does not exist',
    ),
    "broker unreachable": (["audit", "tail", "-f"], DEAD_BROKER, 4, "broker"),
}


@pytest.mark.parametrize(("args", "env", "code", "words"), FAILURES.values(), ids=FAILURES.keys())
async def test_failures_are_one_line_with_the_policy_code(
    args: list[str], env: dict[str, str], code: int, words: str, tmp_path: Path
) -> None:
    args = [str(tmp_path / a) if a == "b.json" else a for a in args]
    got, out, err = await splp(*args, env=env)
    assert got == code, err
    line = one_line(err)
    assert words in line
    assert "s3cret-pw" not in err and out == ""


async def test_an_empty_database_says_to_run_init(tmp_path: Path) -> None:
    store = tmp_path / "empty.db"
    url = f"sqlite+aiosqlite:///{store}"
    backup = ("directory", "backup", str(tmp_path / "b.json"), "--database-url", url)
    code, _, err = await splp(*backup)
    assert code == 2
    assert "no store at" in one_line(err) and "splp directory init" in one_line(err)
    assert not store.exists()  # a command that only reads leaves no empty store behind
    store.touch()  # an empty file: SQLite opens it, and it has no tables
    code, _, err = await splp(*backup)
    assert code == 2
    assert "no SPLP tables" in one_line(err) and "splp directory init" in one_line(err)
    assert "SELECT" not in err  # the SQL (and its parameters) stay out of the message


async def test_directory_answers_map_to_codes(directory: Directory) -> None:
    env = {"SPLP_DIRECTORY_URL": directory.url}
    code, _, err = await splp("party", "list", env={**env, "SPLP_TOKEN": "splp_wrong"})
    assert code == 3 and "401" in one_line(err)
    code, _, err = await splp(
        "party", "list", env={**env, "SPLP_TOKEN": directory.tokens["dinsos"]}
    )
    assert code == 3 and "403" in one_line(err)
    dinsos = {**env, "SPLP_TOKEN": directory.tokens["dinsos"]}
    code, _, err = await splp("service", "show", "nobody.nothing.v1", env=dinsos)
    assert code == 1 and "404" in one_line(err)
    assert "{" not in one_line(err)  # the problem's title and detail, not its JSON


async def test_debug_shows_the_traceback_and_keeps_the_code() -> None:
    code, _, err = await splp("--debug", "party", "list", env=NOWHERE)
    assert code == 4
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("error: directory http://127.0.0.1:1")


async def test_ctrl_c_is_exit_130_without_a_traceback(
    broker: Settings, management: httpx.AsyncClient
) -> None:
    bindings = f"/api/exchanges/{quote(broker.vhost, safe='')}/splp.audit/bindings/source"

    async def tail_queues() -> set[str]:
        response = await management.get(bindings)
        return {b["destination"] for b in response.json()} if response.status_code == 200 else set()

    before = await tail_queues()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "splp",
        "audit",
        "tail",
        "-f",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SPLP_VHOST": broker.vhost, "SPLP_TOKEN": ""},
    )
    try:
        for _ in range(300):  # until it has bound its queue: imported, connected, consuming
            if await tail_queues() - before or process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert process.returncode is None, await process.stderr.read()  # type: ignore[union-attr]
        process.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130, err
    assert b"Traceback" not in err
