"""``splp user``: accounts of people who sign in to the portal (administrators).

Each person belongs to a party and holds some of its roles. ``add`` and
``reset-password`` print a one-time set-password link (shown once: hand it to the person
over a channel you trust); machines keep using the party's API token.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from splp.cli.options import DEFAULT_URL, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory
from splp.vocabulary import ROLES

user_app = typer.Typer(
    help="Manage people's accounts for the portal.",
    epilog="Example:\n\n  splp user add dinsos siti@dinsos.go.id --role requester --name 'Siti'",
    no_args_is_help=True,
)

Email = Annotated[str, typer.Argument(help="The person's e-mail address (their login).")]


def _path(email: str) -> str:
    return quote(email.strip(), safe="@")


def _echo_link(created: dict[str, Any]) -> None:
    typer.echo(f"set-password link (shown once, valid until {created['expires_at']}):")
    typer.echo(created["setup_link"])


@user_app.command(
    "add",
    epilog="Example:\n\n  splp user add dinsos siti@dinsos.go.id --role requester --name 'Siti'",
)
def add(
    party: Annotated[str, typer.Argument(help="The person's party, e.g. dinsos.")],
    email: Email,
    role: Annotated[
        list[str],
        typer.Option(
            "--role",
            "-r",
            help=f"A role ({', '.join(ROLES)}) the party holds; repeat for several.",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option(help="Full name.", show_default=False)] = "",
    nip: Annotated[
        str | None, typer.Option(help="NIP (18 digits), for a civil servant.", show_default=False)
    ] = None,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Add a person and print their one-time set-password link."""
    roles = sorted({r.strip() for value in role for r in value.split(",") if r.strip()})
    body = {"party": party, "email": email, "name": name or email, "roles": roles, "nip": nip}
    created = call_directory(directory_url, token, "POST", "/users", body)
    if as_json:
        print_json(created)
        return
    user = created["user"]
    typer.echo(f"{user['email']} added to {user['party']} with roles {', '.join(user['roles'])}")
    _echo_link(created)


@user_app.command("list", epilog="Example:\n\n  splp user list --party dinsos --json")
def list_users(
    party: Annotated[
        str | None, typer.Option(help="Only this party's people.", show_default=False)
    ] = None,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """List people with their party, roles and state (administrators and monitors)."""
    params = {"party": party} if party else {}
    people = call_directory(directory_url, token, "GET", "/users", None, **params)
    if as_json:
        print_json(people)
        return
    print_table(people, ("email", "party", "roles", "state", "name"), "no person")


@user_app.command("disable", epilog="Example:\n\n  splp user disable siti@dinsos.go.id")
def disable(
    email: Email,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Disable an account for good and end its sessions (its history stays)."""
    user = call_directory(directory_url, token, "POST", f"/users/{_path(email)}/disable", {})
    if as_json:
        print_json(user)
        return
    typer.echo(f"{user['email']} is disabled")


@user_app.command(
    "reset-password", epilog="Example:\n\n  splp user reset-password siti@dinsos.go.id"
)
def reset(
    email: Email,
    clear_totp: Annotated[
        bool, typer.Option("--clear-totp", help="Also turn the second factor off (lost phone).")
    ] = False,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Forget a password, unlock, end the sessions, and print a new set-password link."""
    created = call_directory(
        directory_url,
        token,
        "POST",
        f"/users/{_path(email)}/reset-password",
        {"clear_totp": clear_totp},
    )
    if as_json:
        print_json(created)
        return
    typer.echo(f"the password of {created['user']['email']} is reset")
    _echo_link(created)
