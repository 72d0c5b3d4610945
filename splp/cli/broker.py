"""``splp broker``: reconcile the broker with the directory by hand, or compare them.

``splp credentials rotate PARTY`` issues a new broker password for a party (through the
directory API, as an administrator).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from splp.cli.guard import run
from splp.cli.options import DEFAULT_URL, DatabaseUrl, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory

if TYPE_CHECKING:
    from splp.directory_service.broker import Drift, Status

broker_app = typer.Typer(
    help="Broker enforcement: users, permissions and topology.",
    epilog="Example:\n\n  splp broker status\n  splp broker sync --json",
    no_args_is_help=True,
)
credentials_app = typer.Typer(
    help="Broker credentials of parties.",
    epilog="Example:\n\n  splp credentials rotate dinsos",
    no_args_is_help=True,
)


def _with_reconciler(database_url: str | None, action: str) -> Any:
    from splp.db import require_existing
    from splp.directory_service.broker import BrokerReconciler
    from splp.directory_service.store import Store
    from splp.settings import Settings

    settings = Settings(database_url=database_url) if database_url else Settings()

    async def go() -> Any:
        require_existing(settings.database_url)
        store = Store(settings.database_url)
        try:
            reconciler = BrokerReconciler(store, settings)
            return await (reconciler.sync() if action == "sync" else reconciler.status())
        finally:
            await store.close()

    return run(go())


@broker_app.command("sync", epilog="Example:\n\n  splp broker sync")
def sync(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Reconcile now and print the drift repaired (needs the store and the management API)."""
    drift: Drift = _with_reconciler(database_url, "sync")
    if as_json:
        print_json({"changes": drift.changes, "problems": drift.problems, "closed": drift.closed})
        return
    for change in drift.changes:
        typer.echo(f"repaired: {change}")
    for problem in drift.problems:
        typer.echo(f"problem: {problem}")
    for user in drift.closed:
        typer.echo(f"closed the connections of {user}")
    typer.echo("in sync, nothing to repair" if not drift.changes else drift.summary())


@broker_app.command("status", epilog="Example:\n\n  splp broker status")
def status(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Show desired against actual broker state and what a sync would change."""
    state: Status = _with_reconciler(database_url, "status")
    desired, actual = state.desired.counts(), state.actual.counts()
    if as_json:
        print_json(
            {
                "desired": desired,
                "actual": actual,
                "pending": state.plan.changes,
                "problems": state.plan.problems,
            }
        )
        return
    rows = [{"kind": kind, "desired": desired[kind], "actual": actual[kind]} for kind in desired]
    print_table(rows, ("kind", "desired", "actual"), "nothing desired")
    for change in state.plan.changes:
        typer.echo(f"pending: {change}")
    for problem in state.plan.problems:
        typer.echo(f"problem: {problem}")
    typer.echo("in sync" if state.plan.empty else f"{len(state.plan.changes)} changes pending")


@credentials_app.command("rotate", epilog="Example:\n\n  splp credentials rotate dinsos")
def rotate(
    party: Annotated[str, typer.Argument(help="The party whose broker password to replace.")],
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Issue a new broker password, printed once; the old one stops working at once."""
    created = call_directory(directory_url, token, "POST", f"/parties/{party}/broker-password", {})
    if as_json:
        print_json(created)
        return
    typer.echo(f"broker user {created['broker_user']}: the old password no longer works")
    typer.echo(f"broker password (shown once): {created['broker_password']}")
