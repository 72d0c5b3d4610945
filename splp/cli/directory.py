"""``splp directory``: create, serve, back up and restore the directory service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from splp.cli.guard import fail, run
from splp.cli.options import DatabaseUrl
from splp.cli.output import AsJson, print_json

directory_app = typer.Typer(
    help="Run and maintain the directory service.",
    epilog="Example:\n\n  splp directory init\n\n  splp directory serve --port 8470",
    no_args_is_help=True,
)


def _settings(database_url: str | None) -> Any:
    from splp.settings import Settings

    return Settings(database_url=database_url) if database_url else Settings()


@directory_app.command(
    "init", epilog="Example:\n\n  SPLP_DATABASE_URL=sqlite+aiosqlite:///splp.db splp directory init"
)
def init(
    database_url: DatabaseUrl = None,
    admin: Annotated[str, typer.Option(help="Name of the first administrator party.")] = "admin",
    as_json: AsJson = False,
) -> None:
    """Create (or upgrade) the store and print the first administrator's token, once."""
    from splp.bus.names import check_segment
    from splp.control_plane import init_stores
    from splp.errors import ConfigurationError, ContractError, ServiceUnavailable

    try:
        check_segment(admin, "party name")
    except ContractError as exc:
        fail(exc)
    settings = _settings(database_url)

    try:
        token = run(init_stores(settings, admin))
    except ConnectionError as exc:
        fail(ServiceUnavailable(f"cannot reach the store: {exc.strerror or exc}"))
    except OSError as exc:
        fail(ConfigurationError(f"cannot open the store: {exc}"))
    if as_json:
        print_json({"administrator": admin if token else None, "token": token})
        return
    if token is None:
        typer.echo("store is up to date; an administrator exists already (no token printed)")
        return
    typer.echo(f"administrator {admin} created; its API token (shown once, keep it safe):")
    typer.echo(token)


@directory_app.command(
    "serve",
    epilog="Example:\n\n  splp directory serve --host 0.0.0.0 --port 8470 "
    "--tls-cert /etc/splp/directory.pem --tls-key /etc/splp/directory.key",
)
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8470,
    database_url: DatabaseUrl = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="SPLP_DIRECTORY_TLS_CERT",
            help="Serve HTTPS with this certificate chain (PEM); needs --tls-key.",
            show_default=False,
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            envvar="SPLP_DIRECTORY_TLS_KEY",
            help="The private key (PEM) of --tls-cert.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Migrate the store and serve the directory API (OpenAPI docs at /docs)."""
    from splp.control_plane import serve as serve_directory
    from splp.errors import ConfigurationError

    if (tls_cert is None) != (tls_key is None):
        fail(ConfigurationError("--tls-cert and --tls-key go together: give both or neither"))
    try:
        serve_directory(_settings(database_url), host, port, tls_cert=tls_cert, tls_key=tls_key)
    except Exception as exc:  # startup errors become one line
        fail(
            exc
            if isinstance(exc, ConfigurationError)
            else ConfigurationError(f"cannot serve: {exc}")
        )


@directory_app.command(
    "backup", epilog="Example:\n\n  splp directory backup /var/backups/splp-directory.json"
)
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (JSON).")],
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Write every table of the store to FILE (restorable into SQLite or PostgreSQL), readable
    by its owner only (mode 0600): it holds token and password hashes."""
    from splp.db import require_existing
    from splp.directory_service import Store, dump
    from splp.documents import write_private
    from splp.errors import ConfigurationError

    settings = _settings(database_url)

    async def go() -> dict[str, Any]:
        require_existing(settings.database_url)
        store = Store(settings.database_url)
        try:
            return await dump(store)
        finally:
            await store.close()

    document = run(go())
    try:
        write_private(file, json.dumps(document, indent=1, ensure_ascii=False))
    except OSError as exc:
        fail(ConfigurationError(f"cannot write {file}: {exc.strerror}"))
    counts = {name: len(rows) for name, rows in document["tables"].items()}
    rows = sum(counts.values())
    if as_json:
        print_json({"file": str(file), "rows": rows, "tables": counts})
        return
    typer.echo(f"backed up {rows} rows of {len(document['tables'])} tables to {file}")


@directory_app.command(
    "restore", epilog="Example:\n\n  splp directory restore /var/backups/splp-directory.json"
)
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `splp directory backup`.")],
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Load FILE into an empty store (it is created if needed)."""
    from splp.directory_service import Store
    from splp.directory_service import restore as restore_store
    from splp.errors import ConfigurationError

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(ConfigurationError(f"cannot read {file}: {exc.strerror}"))
    except ValueError as exc:
        fail(ConfigurationError(f"{file} is not JSON: {exc}"))
    settings = _settings(database_url)

    async def go() -> dict[str, int]:
        store = Store(settings.database_url)
        try:
            return await restore_store(store, document)
        finally:
            await store.close()

    counts = run(go())
    if as_json:
        print_json({"file": str(file), "rows": sum(counts.values()), "tables": counts})
        return
    typer.echo(f"restored {sum(counts.values())} rows of {len(counts)} tables from {file}")
