"""``splp client``: applications of a party that call through the HTTP gateway.

Each application gets client credentials (RFC 6749 §4.4): a client id and a secret,
printed once; the directory keeps only the secret's hash. ``--api-key`` also issues an
API key for a legacy application that cannot ask for a token.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from splp.cli.options import DEFAULT_URL, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory

client_app = typer.Typer(
    help="Applications with client credentials for the HTTP gateway.",
    epilog=(
        "Example:\n\n"
        "  splp client add dinsos --name sipd --json\n"
        "  splp client list dinsos\n"
        "  splp client rotate dinsos splp-app-AbCdEfGhIjKlMnOp\n"
        "  splp client revoke dinsos splp-app-AbCdEfGhIjKlMnOp"
    ),
    no_args_is_help=True,
)

Party = Annotated[str, typer.Argument(help="The requester party, e.g. dinsos.")]
ClientId = Annotated[str, typer.Argument(help="The application's client id.")]


def _clients(party: str) -> str:
    return f"/parties/{quote(party, safe='')}/clients"


@client_app.command(
    "add",
    epilog=(
        "Example:\n\n"
        "  splp client add dinsos --name sipd\n"
        "  splp client add dinsos --name sipd-lama --api-key --json"
    ),
)
def add(
    party: Party,
    name: Annotated[
        str, typer.Option("--name", help="The application's name (\\[a-z0-9-]), e.g. sipd.")
    ],
    api_key: Annotated[
        bool, typer.Option("--api-key", help="Also issue an API key (legacy applications).")
    ] = False,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Register an application and print its client id and secret, once.

    Administrators, or the party itself. The directory keeps only hashes.
    """
    body = {"name": name, "api_key": api_key}
    created = call_directory(directory_url, token, "POST", _clients(party), body)
    if as_json:
        print_json(created)
        return
    typer.echo(f"application {created['name']} of {created['party']} added")
    typer.echo(f"client id: {created['client_id']}")
    typer.echo(f"client secret (shown once): {created['client_secret']}")
    if created.get("api_key"):
        typer.echo(f"API key (shown once): {created['api_key']}")


@client_app.command(
    "list", epilog="Example:\n\n  splp client list\n  splp client list dinsos --revoked --json"
)
def list_clients(
    party: Annotated[
        str | None,
        typer.Argument(help="The party; default: the party of the token.", show_default=False),
    ] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Show revoked ones too.")] = False,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """List a party's applications, without secrets.

    Administrators, monitors, or the party itself.
    """
    if party is None:
        party = str(call_directory(directory_url, token, "GET", "/me")["name"])
    params = {"revoked": "true"} if revoked else {}
    applications = call_directory(directory_url, token, "GET", _clients(party), **params)
    if as_json:
        print_json(applications)
        return
    columns = ("name", "client_id", "api_key", "created_at", "secret_rotated_at", "revoked_at")
    print_table(applications, columns if revoked else columns[:-1], f"{party} has no application")


@client_app.command(
    "rotate", epilog="Example:\n\n  splp client rotate dinsos splp-app-AbCdEfGhIjKlMnOp --json"
)
def rotate(
    party: Party,
    client_id: ClientId,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Give an application a new client secret and print it, once.

    Administrators, or the party itself. The old secret stops working at the gateway's
    next refresh; an API key is not changed.
    """
    path = f"{_clients(party)}/{quote(client_id, safe='')}/secret"
    rotated = call_directory(directory_url, token, "POST", path, {})
    if as_json:
        print_json(rotated)
        return
    typer.echo(f"application {rotated['name']} of {rotated['party']}: new secret")
    typer.echo(f"client id: {rotated['client_id']}")
    typer.echo(f"client secret (shown once): {rotated['client_secret']}")


@client_app.command(
    "revoke", epilog="Example:\n\n  splp client revoke dinsos splp-app-AbCdEfGhIjKlMnOp"
)
def revoke(
    party: Party,
    client_id: ClientId,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Revoke an application of a party.

    Administrators, or the party itself. The gateway refuses its secret and API key from
    its next refresh on.
    """
    path = f"{_clients(party)}/{quote(client_id, safe='')}"
    revoked = call_directory(directory_url, token, "DELETE", path)
    if as_json:
        print_json(revoked)
        return
    typer.echo(f"application {revoked['name']} ({revoked['client_id']}) of {party} revoked")
