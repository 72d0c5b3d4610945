"""``splp audit``: run the audit sink, verify the chain, follow events."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from splp.cli.guard import fail, run
from splp.cli.options import DEFAULT_URL, DirectoryUrl, settings_from
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory

if TYPE_CHECKING:
    from splp.settings import Settings

audit_app = typer.Typer(
    help="The audit trail: sink, verification, live tail.",
    epilog="Example:\n\n  splp audit verify\n  splp audit tail --requester dinsos --status 403",
    no_args_is_help=True,
)

AuditDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SPLP_AUDIT_DATABASE_URL",
        help="The audit store (default: SPLP_DATABASE_URL, the directory's database).",
        show_default=False,
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


@audit_app.command("verify", epilog="Example:\n\n  splp audit verify --anchor 1200:3f5a...")
def verify(
    database_url: AuditDatabaseUrl = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH of a head printed by an earlier verify.", show_default=False),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check the hash chain; name the first record modified, deleted, inserted or moved.

    Exits 1 when the chain is broken (with --json too: the verdict says where).
    """
    from splp.audit import AuditStore
    from splp.audit import verify as verify_chain
    from splp.db import require_existing
    from splp.errors import ConfigurationError

    settings = _settings(database_url)
    expected: tuple[int, str] | None = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            fail(ConfigurationError("--anchor must be SEQ:HASH (a 64-digit hex hash)"))
        expected = (int(seq), digest.lower())

    async def go() -> object:
        require_existing(settings.audit_store_url)
        store = AuditStore(settings.audit_store_url)
        try:
            return await verify_chain(store, expected)
        finally:
            await store.close()

    from splp.audit import Verdict

    verdict = run(go())
    assert isinstance(verdict, Verdict)
    if as_json:
        print_json({"ok": verdict.ok, **dataclasses.asdict(verdict)})
        raise typer.Exit(0 if verdict.ok else 1)
    if verdict.ok:
        typer.echo(f"ok: {verdict.records} records; head {verdict.head_seq}:{verdict.head_hash}")
        return
    typer.echo(f"TAMPERED: {verdict.problem}", err=True)
    typer.echo(
        f"first bad record: seq {verdict.bad_seq}"
        + (f", event {verdict.bad_event_id}" if verdict.bad_event_id else "")
        + f"; {verdict.records} records before it are sound",
        err=True,
    )
    raise typer.Exit(1)


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
    amqp_url: Annotated[str | None, typer.Option(envvar="SPLP_AMQP_URL")] = None,
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
