"""``splp link``: the shovels of the links to partner regencies (docs/federation.md).

The directory keeps a link's exchanges, queues and users once the partner is a party with
the role ``partner``; these commands add the two shovels that carry calls to the partner
and replies to its requesters. They talk to this regency's broker through the management
API (``SPLP_MANAGEMENT_URL``, an administrator's login) in the bus's vhost (``SPLP_VHOST``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from splp.cli.guard import run
from splp.cli.output import AsJson, print_json, print_table

link_app = typer.Typer(
    help="Links to partner regencies: the shovels that carry calls and replies.",
    epilog="Example:\n\n  splp link list --json\n  splp link remove kab-b",
    no_args_is_help=True,
)

Partner = Annotated[str, typer.Argument(help="The partner's party name in this directory.")]


def _management() -> tuple[Any, str]:
    from splp.bus.management import Management
    from splp.settings import Settings

    settings = Settings()
    return Management(settings), settings.vhost


@link_app.command("add", epilog='Example:\n\n  splp link add kab-b --as kab-a --url "$KAB_B_URL"')
def add(
    partner: Partner,
    me: Annotated[
        str, typer.Option("--as", help="This regency's party name in the partner's directory.")
    ],
    url: Annotated[
        str,
        typer.Option(
            "--url",
            prompt="The partner's broker URL (amqp://<link user>:<password>@host:port/vhost)",
            hide_input=True,
            help="The partner's broker, logged in as its link user for this regency; asked "
            "for when not given, so the password stays out of the shell history.",
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Create (or replace) the shovels of the link to PARTNER on this regency's broker."""
    from splp.bus.federation import open_link

    management, vhost = _management()

    async def go() -> list[str]:
        async with management:
            return await open_link(management, vhost, partner, me, url)

    names = run(go())
    if as_json:
        print_json({"partner": partner, "shovels": names})
        return
    typer.echo(f"link to {partner}: shovels {', '.join(names)}")


@link_app.command("remove", epilog="Example:\n\n  splp link remove kab-b")
def remove(partner: Partner, as_json: AsJson = False) -> None:
    """Delete the shovels of the link to PARTNER (calls to it then wait in its queue)."""
    from splp.bus.federation import close_link

    management, vhost = _management()

    async def go() -> list[str]:
        async with management:
            return await close_link(management, vhost, partner)

    names = run(go())
    if as_json:
        print_json({"partner": partner, "removed": names})
        return
    typer.echo(f"link to {partner}: " + (f"removed {', '.join(names)}" if names else "none"))


@link_app.command("list", epilog="Example:\n\n  splp link list --json")
def list_links(as_json: AsJson = False) -> None:
    """The shovels of every link and their state."""
    from splp.bus.federation import links

    management, vhost = _management()

    async def go() -> list[dict[str, Any]]:
        async with management:
            return await links(management, vhost)

    rows = run(go())
    if as_json:
        print_json(rows)
        return
    print_table(rows, ["name", "state", "dest"], "no links")
