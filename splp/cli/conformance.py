"""``splp conformance serve|call``: check a client in another language against the spec."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from splp.cli.guard import run
from splp.cli.options import no_password_on_the_command_line, settings_from
from splp.cli.output import AsJson, print_json

if TYPE_CHECKING:
    from splp.conformance import Checklist

conformance_app = typer.Typer(
    help="Check a server or requester written from docs/wire-protocol.md against its MUSTs.",
    epilog=(
        "Example:\n\n  splp conformance serve -- node examples/node-requester/server.mjs"
        "\n  splp conformance call --json -- python examples/python-aiormq/requester.py"
    ),
    no_args_is_help=True,
)

Command = Annotated[
    list[str],
    typer.Argument(
        help="The program under test and its arguments, after '--'.", show_default=False
    ),
]
AmqpUrl = Annotated[
    str | None,
    typer.Option(
        envvar="SPLP_AMQP_URL",
        help="Broker URL of an administrator (the kit creates a vhost and two users); with a "
        "password, only from SPLP_AMQP_URL or SPLP_AMQP_URL_FILE.",
        callback=no_password_on_the_command_line,
    ),
]
ManagementUrl = Annotated[
    str | None,
    typer.Option(
        envvar="SPLP_MANAGEMENT_URL",
        help="RabbitMQ management API of that user; with a password, only from "
        "SPLP_MANAGEMENT_URL or SPLP_MANAGEMENT_URL_FILE.",
        callback=no_password_on_the_command_line,
    ),
]


@conformance_app.command(
    epilog="Example:\n\n  splp conformance serve -- node examples/node-requester/server.mjs"
)
def serve(
    command: Command,
    amqp_url: AmqpUrl = None,
    management_url: ManagementUrl = None,
    as_json: AsJson = False,
) -> None:
    """Check a SERVER: start COMMAND on a throw-away vhost and call it.

    COMMAND serves dukcapil.penduduk.v1 (theme kependudukan, operation get-by-nik) with
    the broker URL in SPLP_AMQP_URL and the body limit in SPLP_MAX_BODY_BYTES; NIK
    1508010101900001 is a resident, any other valid NIK a 404. Exit code 1 when a MUST
    failed.
    """
    from splp.conformance import check_server

    settings = settings_from(amqp_url=amqp_url, management_url=management_url)
    _report(run(check_server(command, settings)), as_json)


@conformance_app.command(
    epilog="Example:\n\n  splp conformance call -- node examples/node-requester/requester.mjs"
)
def call(
    command: Command,
    amqp_url: AmqpUrl = None,
    management_url: ManagementUrl = None,
    as_json: AsJson = False,
) -> None:
    """Check a REQUESTER: serve with the SDK's adapter and run COMMAND against it.

    COMMAND is run once per call as COMMAND THEME SERVICE OPERATION JSON TIMEOUT_SECONDS
    with SPLP_AMQP_URL; it prints the result as JSON and exits 0, or exits 1 (problem
    reply), 3 (refused), 4 (no such service) or 5 (timeout). Exit code 1 when a MUST
    failed.
    """
    from splp.conformance import check_caller

    settings = settings_from(amqp_url=amqp_url, management_url=management_url)
    _report(run(check_caller(command, settings)), as_json)


@conformance_app.command(epilog="Example:\n\n  splp conformance bus --json")
def bus(
    seconds: Annotated[
        float | None, typer.Option(help="Delete the bus after this long (default: on Ctrl-C).")
    ] = None,
    amqp_url: AmqpUrl = None,
    management_url: ManagementUrl = None,
    as_json: AsJson = False,
) -> None:
    """Set up a throw-away vhost with the topology of §4 and a publisher and a requester
    user with the reconciler's permissions; print their URLs; delete it all on Ctrl-C."""
    from splp.conformance.testbus import hold

    def show(urls: dict[str, str]) -> None:
        if as_json:
            print_json(urls)
        else:
            for name, value in urls.items():
                typer.echo(f"{name}: {value}")
        sys.stdout.flush()

    settings = settings_from(amqp_url=amqp_url, management_url=management_url)
    run(hold(settings, seconds, show))


def _report(checklist: Checklist, as_json: bool) -> None:
    if as_json:
        print_json(checklist.as_json())
    else:
        marks = {True: "PASS", False: "FAIL", None: "----"}
        for check in checklist.checks:
            line = f"{marks[check.passed]}  {check.rule:<5} {check.title}"
            typer.echo(line + (f"\n            {check.detail}" if check.detail else ""))
        summary = checklist.as_json()
        typer.echo(
            f"{summary['passed']} passed, {summary['failed']} failed, "
            f"{summary['not_checked']} not observable"
        )
    if not checklist.passed:
        raise typer.Exit(1)
