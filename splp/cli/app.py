"""The root Typer app, the shared options and the guard that turns failures into exit codes.

Whatever goes wrong in a command (a usage error, an SPLP error, a library's exception) is
printed as one line ``error: ...`` on stderr and exits with the code of the policy in
:mod:`splp.cli.exits`; ``--debug`` prints the traceback first.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from splp import errors
from splp.cli.exits import (
    EXIT_DENIED,
    EXIT_REMOTE,
    EXIT_TIMEOUT,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    POLICY,
    describe,
    exit_code_for,
    one_line,
)

if TYPE_CHECKING:
    from splp.settings import Settings

# typer.BadParameter derives from the UsageError and ClickException of the click that typer
# uses (click itself, or the copy newer typers carry): take the classes from there.
_USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]
_CLICK_EXCEPTION: type[Exception] = _USAGE_ERROR.__mro__[1]
assert (_USAGE_ERROR.__name__, _CLICK_EXCEPTION.__name__) == ("UsageError", "ClickException")

_state = {"debug": False}


class GuardedGroup(TyperGroup):
    """The root command: every failure is one line on stderr and a policy exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        _state["debug"] = False
        _quiet_late_loop_callbacks()
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except _USAGE_ERROR as exc:
            sys.exit(_usage_error(exc))
        except _CLICK_EXCEPTION as exc:
            typer.echo(f"error: {one_line(exc.format_message())}", err=True)  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(EXIT_REMOTE)
        except (Exception, KeyboardInterrupt) as exc:
            sys.exit(report_failure(exc))
        # without standalone mode, click returns the code of a typer.Exit, else the
        # command's own return value (our commands return None)
        sys.exit(result if isinstance(result, int) else 0)


def _quiet_late_loop_callbacks() -> None:
    """Drop "Event loop is closed" from threads that outlive a failed command's event loop.

    aiosqlite (0.22) queues the close of a connection that failed to open and answers it
    from its worker thread, possibly after ``run`` has closed the loop: a second traceback
    after the error line, about nothing. ``--debug`` still shows it.
    """
    default = threading.excepthook
    if getattr(default, "splp_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        late = isinstance(args.exc_value, RuntimeError) and "Event loop is closed" in str(
            args.exc_value
        )
        if not late or _state["debug"]:
            default(args)

    hook.splp_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _usage_error(exc: Exception) -> int:
    """One line for a usage error; ``no_args_is_help`` has printed the help already."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        message = exc.format_message()  # type: ignore[attr-defined]
        if message:  # without rich, the help is the message
            typer.echo(message)
        return int(exc.exit_code)  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    typer.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)  # type: ignore[attr-defined]
    return EXIT_USAGE


def report_failure(exc: BaseException) -> int:
    """Print ``exc`` as one line (after its traceback with ``--debug``); its exit code."""
    code, message = describe(exc)
    if _state["debug"]:
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"error: {message}", err=True)
    return code


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

T = TypeVar("T")

__all__ = [
    "EXIT_DENIED",
    "EXIT_REMOTE",
    "EXIT_TIMEOUT",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "app",
    "exit_code_for",
    "fail",
    "run",
    "settings_from",
]

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
    _state["debug"] = debug
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


def settings_from(**overrides: str | None) -> Settings:
    """:class:`Settings` from the environment, with the CLI options that were given."""
    from splp.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v})  # type: ignore[arg-type]


def fail(exc: BaseException) -> NoReturn:
    """Print ``exc`` as one line (a traceback only with ``--debug``) and exit."""
    if _state["debug"]:
        raise exc
    raise typer.Exit(report_failure(exc))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion; an :class:`~splp.errors.SplpError` becomes :func:`fail`."""
    try:
        return _event_loop_runner()(coro)
    except errors.SplpError as exc:
        fail(exc)


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, T]], T]:
    """uvloop where it is installed (it is a dependency on Linux): fewer cycles per message."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run
