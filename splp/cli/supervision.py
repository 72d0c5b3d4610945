"""``splp supervision``: follow-ups of misuse hits (Bungo Pasal 8(6)), for administrators."""

from __future__ import annotations

from typing import Annotated

import typer

from splp.cli.options import DEFAULT_URL, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json
from splp.cli.remote import call_directory

supervision_app = typer.Typer(
    help="Supervision: follow-ups of misuse hits.",
    epilog='Example:\n\n  splp supervision note 12 --text "Confirmed with Dinsos: a test script"',
    no_args_is_help=True,
)


@supervision_app.command(
    "note",
    epilog='Example:\n\n  splp supervision note 12 --text "Grant resumed after a call with Dinsos"',
)
def note(
    hit_id: Annotated[int, typer.Argument(help="The hit's id (splp report pengawasan).", min=1)],
    text: Annotated[str, typer.Option(help="What was checked, decided or done.")],
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Record a follow-up of a misuse hit (audited)."""
    made = call_directory(
        directory_url, token, "POST", f"/supervision/hits/{hit_id}/notes", {"text": text}
    )
    if as_json:
        print_json(made)
        return
    typer.echo(f"follow-up {made['id']} recorded for hit {hit_id}")
