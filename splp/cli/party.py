"""``splp party``: register agencies and applications with their roles (administrators)."""

from __future__ import annotations

from typing import Annotated

import typer

from splp.cli.options import DEFAULT_URL, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory
from splp.vocabulary import ROLES

party_app = typer.Typer(
    help="Manage parties: agencies and applications.",
    epilog="Example:\n\n  splp party add dinsos --role requester --title 'Dinas Sosial'",
    no_args_is_help=True,
)


@party_app.command(
    "add", epilog="Example:\n\n  splp party add dinsos --role requester --title 'Dinas Sosial'"
)
def add(
    name: Annotated[str, typer.Argument(help="Short name, e.g. dukcapil (\\[a-z0-9-]).")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role",
            "-r",
            help=f"A role ({', '.join(ROLES)}); repeat for several.",
            show_default=False,
        ),
    ],
    title: Annotated[str, typer.Option(help="Full name of the agency or application.")] = "",
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Add a party and print its API token (shown once: hand it over safely)."""
    roles = sorted({r.strip() for value in role for r in value.split(",") if r.strip()})
    created = call_directory(
        directory_url, token, "POST", "/parties", {"name": name, "title": title, "roles": roles}
    )
    if as_json:
        print_json(created)
        return
    party = created["party"]
    typer.echo(f"party {party['name']} added with roles {', '.join(party['roles'])}")
    typer.echo(f"API token (shown once): {created['token']}")
    if created.get("broker_password"):
        typer.echo(f"broker user {created['broker_user']}, password (shown once):")
        typer.echo(created["broker_password"])


@party_app.command("list", epilog="Example:\n\n  splp party list --json")
def list_parties(
    as_json: AsJson = False, directory_url: DirectoryUrl = DEFAULT_URL, token: Token = ""
) -> None:
    """List parties and their roles (administrators and monitors)."""
    parties = call_directory(directory_url, token, "GET", "/parties")
    if as_json:
        print_json(parties)
        return
    print_table(parties, ("name", "roles", "title"), "no party")


@party_app.command("token", epilog="Example:\n\n  splp party token dinsos")
def token_command(
    name: Annotated[str, typer.Argument(help="The party whose token was lost or leaked.")],
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Revoke a party's tokens and print a new one, once (administrators)."""
    created = call_directory(directory_url, token, "POST", f"/parties/{name}/token", {})
    if as_json:
        print_json(created)
        return
    typer.echo(f"the old tokens of {created['party']['name']} are revoked")
    typer.echo(f"API token (shown once): {created['token']}")
