"""The ``splp`` command: the root Typer app, its global options, and every sub-app.

This is the one module that wires the command tree: each command module defines its
own ``typer.Typer`` (a group, or a nameless one holding a top-level command) and knows
nothing of the root. Command modules import only typer and their own small helpers at
the top; anything heavy is imported inside the commands, so ``splp --help`` is fast.
Failures become one line and an exit code in :mod:`splp.cli.guard`.
"""

from __future__ import annotations

import logging
import sys

import typer

from splp.cli import (
    access,
    adapter,
    audit,
    broker,
    call,
    client,
    conformance,
    demo,
    directory,
    erd,
    gateway,
    link,
    party,
    report,
    service,
    supervision,
    user,
)
from splp.cli.exits import POLICY
from splp.cli.guard import GuardedGroup, show_tracebacks

app = typer.Typer(
    name="splp",
    cls=GuardedGroup,
    help="SPLP, the regency government service bus: call services, run adapters, run the demo.",
    epilog=(
        "Examples:\n\n"
        "  splp directory init\n"
        "  splp service list --theme kependudukan --json\n"
        '  splp call kependudukan dukcapil.penduduk.v1 get-by-nik \'{"nik": "1508010101900001"}\''
        "\n\n"
        "Every command prints data as a table or text, and as JSON with --json. Errors are one "
        "line on stderr (with the traceback under --debug).\n\n" + POLICY
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# in the order of `splp --help`
app.add_typer(call.call_app)
app.add_typer(demo.demo_app)
app.add_typer(directory.directory_app, name="directory")
app.add_typer(access.access_app, name="access")
app.add_typer(broker.broker_app, name="broker")
app.add_typer(broker.credentials_app, name="credentials")
app.add_typer(party.party_app, name="party")
app.add_typer(user.user_app, name="user")
app.add_typer(client.client_app, name="client")
app.add_typer(service.theme_app, name="theme")
app.add_typer(service.service_app, name="service")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(adapter.adapter_app, name="adapter")
app.add_typer(gateway.gateway_app, name="gateway")
app.add_typer(link.link_app, name="link")
app.add_typer(erd.schema_app, name="schema")
app.add_typer(report.report_app, name="report")
app.add_typer(supervision.supervision_app, name="supervision")
app.add_typer(conformance.conformance_app, name="conformance")

# "splp" follows --debug/--verbose; the others stay at WARNING or above even with --debug:
# httpx logs full URLs and aiormq whole frames at DEBUG, and both can hold personal data.
# aiormq.connection logs a failed connect at ERROR, which the command then prints as its
# error line: that one record is shown only with --verbose or --debug (its warnings about
# blocked connections and missed heartbeats always are).
QUIETED_LOGGERS = (
    "splp",
    "httpx",
    "httpcore",
    "aiormq",
    "aio_pika",
    "uvicorn.access",
    "aiormq.connection",
)


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show progress logs."),
) -> None:
    show_tracebacks(debug)
    configure_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)


def configure_logging(level: int) -> None:
    """Log to stderr, keeping the libraries that log personal data quiet."""
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("splp").setLevel(level)
    for noisy in QUIETED_LOGGERS[1:]:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    connection_log = logging.getLogger("aiormq.connection")
    connection_log.removeFilter(_drop_failed_connect)
    if level >= logging.WARNING:
        connection_log.addFilter(_drop_failed_connect)


def _drop_failed_connect(record: logging.LogRecord) -> bool:
    """False for aiormq's "error when creating transport" (the command reports the error)."""
    return not str(record.msg).startswith("error when creating transport")


__all__ = ["QUIETED_LOGGERS", "app", "configure_logging"]
