"""``splp audit``: run the audit sink, verify the chain, follow events."""

from __future__ import annotations

from typing import Annotated

import typer

from splp.cli.app import app, fail, run

audit_app = typer.Typer(
    help="The audit trail: sink, verification, live tail.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")

AuditDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SPLP_AUDIT_DATABASE_URL",
        help="The audit store (default: SPLP_DATABASE_URL, the directory's database).",
        show_default=False,
    ),
]


def _settings(database_url: str | None) -> object:
    from splp.audit import AuditSettings

    return AuditSettings(audit_database_url=database_url) if database_url else AuditSettings()


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
    from splp.audit.settings import AuditSettings

    settings = _settings(database_url)
    assert isinstance(settings, AuditSettings)
    run(serve_sink(settings, queue=queue, batch_size=batch_size, metrics_port=metrics_port))


@audit_app.command("verify", epilog="Example:\n\n  splp audit verify --anchor 1200:3f5a...")
def verify(
    database_url: AuditDatabaseUrl = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH of a head printed by an earlier verify.", show_default=False),
    ] = None,
) -> None:
    """Check the hash chain; name the first record modified, deleted, inserted or moved."""
    from splp.audit import AuditSettings, AuditStore
    from splp.audit import verify as verify_chain
    from splp.errors import ConfigurationError

    settings = _settings(database_url)
    assert isinstance(settings, AuditSettings)
    expected: tuple[int, str] | None = None
    if anchor:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            fail(ConfigurationError("--anchor must be SEQ:HASH (a 64-digit hex hash)"))
        expected = (int(seq), digest.lower())

    async def go() -> object:
        store = AuditStore(settings.audit_store_url)
        try:
            return await verify_chain(store, expected)
        finally:
            await store.close()

    from splp.audit import Verdict

    verdict = run(go())
    assert isinstance(verdict, Verdict)
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
