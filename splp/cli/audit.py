"""``splp audit``: run the sink; verify, prune, back up and restore the chain; follow events."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from splp.cli.guard import fail, run
from splp.cli.options import (
    DEFAULT_URL,
    AmqpUrl,
    DirectoryUrl,
    no_password_on_the_command_line,
    settings_from,
)
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory

if TYPE_CHECKING:
    from splp.settings import Settings

T = TypeVar("T")

audit_app = typer.Typer(
    help="The audit trail: sink, verification, signed exports, live tail.",
    epilog="Example:\n\n  splp audit verify\n  splp audit tail --requester dinsos --status 403",
    no_args_is_help=True,
)

AuditDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SPLP_AUDIT_DATABASE_URL",
        help="The audit store (default: SPLP_DATABASE_URL, the directory's database); with "
        "a password, only from SPLP_AUDIT_DATABASE_URL or SPLP_AUDIT_DATABASE_URL_FILE.",
        show_default=False,
        callback=no_password_on_the_command_line,
    ),
]


def _settings(database_url: str | None) -> Settings:
    from splp.settings import Settings

    return Settings(audit_database_url=database_url) if database_url else Settings()


@audit_app.command("sink", epilog="Example:\n\n  splp audit sink --metrics-port 9470")
def sink(
    database_url: AuditDatabaseUrl = None,
    batch_size: Annotated[int, typer.Option(help="Events per transaction, at most.", min=1)] = 5000,
    queue: Annotated[str, typer.Option(help="The queue to consume.")] = "splp.audit.sink",
    metrics_port: Annotated[
        int, typer.Option(help="Serve Prometheus /metrics on this port (0: off).", min=0)
    ] = 0,
) -> None:
    """Store every event of the queue splp.audit.sink in the hash-chained audit store."""
    from splp.audit.serve import serve_sink

    settings = _settings(database_url)
    run(serve_sink(settings, queue=queue, batch_size=batch_size, metrics_port=metrics_port))


@audit_app.command(
    "verify",
    epilog="Examples:\n\n  splp audit verify --anchor 1200:3f5a...\n\n"
    "  splp audit verify --file audit-2026-11.json --key audit-public.pem",
)
def verify(
    database_url: AuditDatabaseUrl = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH of a head printed by an earlier verify.", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Check this export bundle offline instead of the store (no database).",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="The sink's public key (base64, PEM, or a file of either): checks the "
            "signatures of a bundle, or of the store's anchors.",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check the hash chain; name the first record modified, deleted, inserted or moved.

    The store's signed anchors are checked too (their signatures with --key). With --file
    and --key, check an export bundle: every record's hash and link, its head and the
    signature of the head and of its anchors; no database or store setting is read.
    Exits 1 when the chain is broken (with --json too: the verdict says where).
    """
    from splp.errors import ConfigurationError

    if file is not None:
        if key is None:
            fail(ConfigurationError("--file needs --key: the sink's public key"))
        if anchor:
            fail(ConfigurationError("--anchor checks the store: a bundle carries its anchors"))
        _verify_bundle(file, key, as_json)
        return
    from splp.audit import AuditStore
    from splp.audit import verify as verify_chain
    from splp.db import require_existing

    settings = _settings(database_url)
    expected: tuple[int, str] | None = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            fail(ConfigurationError("--anchor must be SEQ:HASH (a 64-digit hex hash)"))
        expected = (int(seq), digest.lower())
    public = None
    if key is not None:
        from splp.audit.keys import load_public_key

        public = load_public_key(key)

    async def go() -> object:
        require_existing(settings.audit_store_url)
        store = AuditStore(settings.audit_store_url)
        try:
            return await verify_chain(store, expected, public)
        finally:
            await store.close()

    from splp.audit import Verdict

    verdict = run(go())
    assert isinstance(verdict, Verdict)
    if as_json:
        print_json({"ok": verdict.ok, **dataclasses.asdict(verdict)})
        raise typer.Exit(0 if verdict.ok else 1)
    if verdict.ok:
        start = f" from record {verdict.first_seq} (pruned before)" if verdict.first_seq > 1 else ""
        typer.echo(
            f"ok: {verdict.records} records{start}; head {verdict.head_seq}:{verdict.head_hash}"
        )
        return
    _tampered(verdict.problem, verdict.bad_seq, verdict.bad_event_id)
    typer.echo(f"{verdict.records} records before it are sound", err=True)
    raise typer.Exit(1)


def _parse_date(value: str) -> Any:
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD or an ISO 8601 time"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


@audit_app.command(
    "prune",
    epilog="Example:\n\n  splp audit prune --before 2024-01-01 --actor auditor",
)
def prune(
    before: Annotated[
        str,
        typer.Option(
            help="Delete the records older than this date (YYYY-MM-DD, UTC) or ISO time.",
            show_default=False,
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(help="Prune records younger than two years too (Pasal 64(8) keeps them)."),
    ] = False,
    actor: Annotated[
        str | None,
        typer.Option(help="Who prunes, for the checkpoint record (default: the OS user)."),
    ] = None,
    database_url: AuditDatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Delete the oldest records; the rest stays verifiable from a checkpoint record.

    Refuses a date younger than two years unless --force, and a chain that does not
    verify. The checkpoint is itself an audit record: who pruned what, and when.
    """
    import getpass

    from splp.audit import AuditStore
    from splp.audit.retention import Pruned
    from splp.audit.retention import prune as prune_chain
    from splp.db import require_existing

    when = _parse_date(before)
    settings = _settings(database_url)
    who = actor or getpass.getuser()

    async def go() -> Pruned:
        require_existing(settings.audit_store_url)
        store = AuditStore(settings.audit_store_url)
        try:
            await store.migrate()
            return await prune_chain(store, when, actor=who, force=force)
        finally:
            await store.close()

    pruned = _checked(go())
    if as_json:
        print_json(dataclasses.asdict(pruned))
        return
    if not pruned.count:
        typer.echo(f"nothing to prune: no record before {when.isoformat()}")
        return
    typer.echo(
        f"pruned {pruned.count} records ({pruned.first_seq} to {pruned.last_seq}); "
        f"checkpoint record {pruned.checkpoint_seq}"
    )


@audit_app.command("backup", epilog="Example:\n\n  splp audit backup /var/backups/splp-audit.jsonl")
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (JSON lines).")],
    database_url: AuditDatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Write the audit store to FILE (mode 0600), read in one snapshot.

    The backup restores into SQLite or PostgreSQL with `splp audit restore`.
    """
    from splp.audit import AuditStore
    from splp.audit.backup import BackupSummary, write_backup
    from splp.db import require_existing

    settings = _settings(database_url)

    async def go() -> BackupSummary:
        require_existing(settings.audit_store_url)
        store = AuditStore(settings.audit_store_url)
        try:
            return await write_backup(store, file)
        finally:
            await store.close()

    summary = run(go())
    _print_summary("backed up", "to", file, summary, as_json)


@audit_app.command(
    "restore", epilog="Example:\n\n  splp audit restore /var/backups/splp-audit.jsonl"
)
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `splp audit backup`.")],
    database_url: AuditDatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Load FILE into an empty audit store (created if needed).

    Refuses a backup whose chain does not verify (exit 1): nothing is stored then.
    """
    from splp.audit import AuditStore
    from splp.audit.backup import BackupSummary, restore_backup

    settings = _settings(database_url)
    if not file.is_file():
        from splp.errors import ConfigurationError

        fail(ConfigurationError(f"cannot read {file}: no such file"))

    async def go() -> BackupSummary:
        store = AuditStore(settings.audit_store_url)
        try:
            return await restore_backup(store, file)
        finally:
            await store.close()

    summary = _checked(go())
    _print_summary("restored", "from", file, summary, as_json)


def _checked(work: Coroutine[Any, Any, T]) -> T:
    """``run(work)``; a chain that does not verify is a failed check: exit 1, like verify."""
    from splp.audit.retention import ChainBroken

    async def guarded() -> T | ChainBroken:
        try:
            return await work
        except ChainBroken as exc:
            return exc

    result = run(guarded())
    if isinstance(result, ChainBroken):
        typer.echo(f"error: {result}", err=True)
        raise typer.Exit(1)
    return result


def _print_summary(done: str, where: str, file: Path, summary: Any, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "file": str(file),
                "rows": summary.rows,
                "tables": summary.tables,
                "head_seq": summary.head_seq,
                "head_hash": summary.head_hash,
                "first_seq": summary.first_seq,
            }
        )
        return
    typer.echo(
        f"{done} {summary.rows} rows of {len(summary.tables)} tables {where} {file}; "
        f"chain head {summary.head_seq}:{summary.head_hash or '-'}"
    )


def _tampered(problem: str | None, bad_seq: int | None, bad_event_id: str | None) -> None:
    typer.echo(f"TAMPERED: {problem}", err=True)
    if bad_seq is not None:
        typer.echo(
            f"first bad record: seq {bad_seq}"
            + (f", event {bad_event_id}" if bad_event_id else ""),
            err=True,
        )


def _verify_bundle(file: Path, key: str, as_json: bool) -> None:
    from splp.audit.bundle import check_bundle
    from splp.audit.keys import load_public_key
    from splp.errors import ConfigurationError

    public = load_public_key(key)
    try:
        bundle = json.loads(file.read_bytes())
    except OSError as exc:
        fail(ConfigurationError(f"cannot read {str(file)!r}: {exc.strerror}"))
    except ValueError:
        bundle = None
    verdict = check_bundle(bundle, public) if bundle is not None else None
    if verdict is None:
        from splp.audit.bundle import BundleVerdict

        verdict = BundleVerdict(0, problem="the bundle is not JSON (it was damaged or cut)")
    if as_json:
        print_json({"ok": verdict.ok, **dataclasses.asdict(verdict)})
        raise typer.Exit(0 if verdict.ok else 1)
    if verdict.ok:
        typer.echo(
            f"ok: {verdict.records} records {verdict.first_seq}..{verdict.head_seq}, "
            f"{verdict.anchors} anchors; head {verdict.head_seq}:{verdict.head_hash} "
            "signed by the given key"
        )
        return
    _tampered(verdict.problem, verdict.bad_seq, verdict.bad_event_id)
    raise typer.Exit(1)


SigningKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        envvar="SPLP_AUDIT_SIGNING_KEY_FILE",
        help="The sink's Ed25519 private key (PEM).",
        show_default=False,
    ),
]


@audit_app.command(
    "keygen", epilog="Example:\n\n  splp audit keygen --key-file /etc/splp/audit.key"
)
def keygen(key_file: SigningKeyFile = None, as_json: AsJson = False) -> None:
    """Create the sink's signing key (mode 0600); print its public key."""
    from splp.audit.keys import SigningKey
    from splp.errors import ConfigurationError

    if key_file is None:
        fail(ConfigurationError("give --key-file or SPLP_AUDIT_SIGNING_KEY_FILE"))
    key = SigningKey.generate()
    key.write(key_file)
    _print_public(key, as_json)


@audit_app.command(
    "public-key", epilog="Example:\n\n  splp audit public-key --pem > audit-public.pem"
)
def public_key(
    key_file: SigningKeyFile = None,
    pem: Annotated[bool, typer.Option("--pem", help="Print a PEM public key.")] = False,
    as_json: AsJson = False,
) -> None:
    """Print the public key of the sink's signing key, for auditors."""
    from splp.audit.keys import SigningKey
    from splp.errors import ConfigurationError

    if key_file is None:
        fail(ConfigurationError("give --key-file or SPLP_AUDIT_SIGNING_KEY_FILE"))
    key = SigningKey.load(key_file)
    if pem and not as_json:
        typer.echo(key.public_pem, nl=False)
        return
    _print_public(key, as_json)


def _print_public(key: Any, as_json: bool) -> None:
    if as_json:
        print_json(
            {"key_id": key.key_id, "public_key": key.public_base64, "public_pem": key.public_pem}
        )
        return
    typer.echo(f"key id {key.key_id}, public key (Ed25519, base64):")
    typer.echo(key.public_base64)


@audit_app.command(
    "export",
    epilog="Example:\n\n  splp audit export --from 2026-11-01 --to 2026-11-30 audit-2026-11.json",
)
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the bundle (JSON).")],
    first_day: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    last_day: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC).")],
    database_url: AuditDatabaseUrl = None,
    key_file: SigningKeyFile = None,
    as_json: AsJson = False,
) -> None:
    """Write the records of a period, their head and its signature as a bundle that
    `splp audit verify --file` checks offline."""
    from datetime import date

    from splp.audit import AuditStore
    from splp.audit.export import export as export_bundle
    from splp.audit.keys import SigningKey
    from splp.db import require_existing
    from splp.errors import ConfigurationError

    settings = _settings(database_url)
    key_path = key_file or settings.audit_signing_key_file
    if key_path is None:
        fail(ConfigurationError("give --key-file or SPLP_AUDIT_SIGNING_KEY_FILE: the sink's key"))
    try:
        first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    except ValueError:
        fail(ConfigurationError("--from and --to must be real days (YYYY-MM-DD)"))
    if first > last:
        fail(ConfigurationError("the period ends before it starts (--to < --from)"))
    key = SigningKey.load(key_path)

    async def go() -> dict[str, Any]:
        require_existing(settings.audit_store_url)
        store = AuditStore(settings.audit_store_url)
        try:
            return await export_bundle(store, first, last, key)
        finally:
            await store.close()

    bundle = run(go())
    file.write_text(json.dumps(bundle, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    summary = {
        "file": str(file),
        "records": len(bundle["records"]),
        "head": bundle["head"],
        "key_id": key.key_id,
    }
    if as_json:
        print_json(summary)
        return
    head = bundle["head"]
    typer.echo(
        f"{summary['records']} records to {file}; head {head['seq']}:{head['hash']} "
        f"signed by key {key.key_id}"
    )


@audit_app.command(
    "tail",
    epilog="Examples:\n\n  splp audit tail --service dukcapil.penduduk --status 403\n\n"
    "  splp audit tail -f --requester dinsos --json",
)
def tail(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Follow live events from the broker.")
    ] = False,
    service: Annotated[
        str | None, typer.Option(help="SERVICE, PUBLISHER.SERVICE or PUBLISHER.SERVICE.vN.")
    ] = None,
    requester: Annotated[str | None, typer.Option(help="Only this requester.")] = None,
    status: Annotated[int | None, typer.Option(help="Only this status.", min=100, max=599)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
    limit: Annotated[int, typer.Option(help="How many latest records.", min=1, max=1000)] = 20,
    max_events: Annotated[
        int, typer.Option(help="With -f: stop after this many events (0: never).", min=0)
    ] = 0,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SPLP_TOKEN",
            help="A monitor's or administrator's API token (without one: --database-url).",
            show_default=False,
        ),
    ] = None,
    database_url: AuditDatabaseUrl = None,
    amqp_url: AmqpUrl = None,
    vhost: Annotated[str | None, typer.Option(envvar="SPLP_VHOST")] = None,
) -> None:
    """Print the latest audit records (from the directory API, else the store), or follow.

    A table on a terminal; one line per event when piped; one JSON object per line with
    --json (with or without --follow).
    """
    from splp.audit.query import Filters
    from splp.audit.tail import line

    filters = Filters(service=service, requester=requester, status=status)

    def show(event: dict[str, Any]) -> None:
        typer.echo(json.dumps(event, sort_keys=True) if as_json else line(event))

    if follow:
        run(_follow(settings_from(amqp_url=amqp_url, vhost=vhost), filters, show, max_events))
        return
    if token:
        params = {"service": service, "requester": requester, "status": status}
        page = call_directory(
            directory_url, token, "GET", "/audit/events", limit=limit, latest="true", **params
        )
        events = [record["event"] for record in page["records"]]
    else:
        events = run(_latest(database_url, filters, limit))
    if as_json or not _on_terminal():
        for event in events:
            show(event)
        return
    print_table([_row(event) for event in events], TAIL_COLUMNS, "no audit record")


@audit_app.command(
    "subject",
    epilog="Examples:\n\n  splp audit subject --service dukcapil.penduduk "
    "--value 1508010101900001\n\n"
    '  read -rs NIK; printf %s "$NIK" | splp audit subject --service dukcapil.penduduk '
    "--value - --json",
)
def subject(
    service: Annotated[
        str, typer.Option(help="SERVICE, PUBLISHER.SERVICE or PUBLISHER.SERVICE.vMAJOR.")
    ],
    value: Annotated[
        str,
        typer.Option(
            help="The data subject's identifier (e.g. a NIK); '-' reads it from stdin, which "
            "keeps it out of the shell history."
        ),
    ],
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Annotated[
        str,
        typer.Option(
            envvar="SPLP_TOKEN",
            help="An administrator's or monitor's API token.",
            show_default=False,
        ),
    ] = "",
) -> None:
    """Who accessed the data of one data subject, and when (UU 27/2022).

    The audit trail holds a keyed HMAC of the subject, never the value: the control plane
    computes it under every key version and lists the matching accesses. Administrators
    and monitors only; each lookup is itself audited (admin.subject-lookup).
    """
    if value == "-":
        value = sys.stdin.read().strip()
    found = call_directory(
        directory_url, token, "POST", "/audit/subject", {"service": service, "value": value}
    )
    if as_json:
        print_json(found)
        return
    rows = [
        {**a, "who": (a["requester"] or "-") + (f" (via {a['via']})" if a.get("via") else "")}
        for a in found["accesses"]
    ]
    columns = ("time", "who", "service", "operation", "status", "fields")
    print_table(
        [{**r, "fields": ",".join(r["fields"] or [])} for r in rows],
        columns,
        f"no recorded access to that subject in {service}",
    )


TAIL_COLUMNS = ("time", "kind", "service", "operation", "who", "status", "ms")


def _row(event: dict[str, Any]) -> dict[str, Any]:
    """The fields of :func:`splp.audit.tail.line` as table cells."""
    service = (
        f"{event.get('publisher')}.{event.get('service')}.v{event.get('major')}"
        if event.get("service")
        else event.get("source")
    )
    who = event.get("requester") or event.get("actor") or event.get("user")
    return {
        "time": event.get("time"),
        "kind": event.get("kind"),
        "service": service,
        "operation": event.get("operation") or event.get("action"),
        "who": who,
        "status": event.get("status"),
        "ms": event.get("duration_ms"),
    }


def _on_terminal() -> bool:
    from rich.console import Console

    return Console().is_terminal


async def _latest(database_url: str | None, filters: Any, limit: int) -> list[dict[str, Any]]:
    from splp.audit import AuditStore
    from splp.audit.query import records
    from splp.db import require_existing

    settings = _settings(database_url)
    require_existing(settings.audit_store_url)
    store = AuditStore(settings.audit_store_url)
    try:
        return [r["event"] for r in await records(store, filters, limit=limit, latest=True)]
    finally:
        await store.close()


async def _follow(
    settings: Settings, filters: Any, show: Callable[[dict[str, Any]], None], max_events: int
) -> None:
    from splp.audit.tail import follow

    shown = 0
    stream = follow(settings.broker_url, filters, settings)
    try:
        async for event in stream:
            show(event)
            sys.stdout.flush()
            shown += 1
            if max_events and shown >= max_events:
                return
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
