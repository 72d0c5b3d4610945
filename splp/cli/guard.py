"""The guard around every command: whatever goes wrong is one line and a policy exit code.

A usage error, an SPLP error or a library's exception is printed as ``error: ...`` on
stderr and exits with the code of the policy in :mod:`splp.cli.exits`; ``--debug``
prints the traceback first. Commands call :func:`fail` and :func:`run`.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from splp import errors
from splp.cli.exits import EXIT_REMOTE, EXIT_USAGE, describe, one_line

# typer.BadParameter derives from the UsageError and ClickException of the click that typer
# uses (click itself, or the copy newer typers carry): take the classes from there.
_USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]
_CLICK_EXCEPTION: type[Exception] = _USAGE_ERROR.__mro__[1]
assert (_USAGE_ERROR.__name__, _CLICK_EXCEPTION.__name__) == ("UsageError", "ClickException")

_state = {"debug": False}

T = TypeVar("T")


def show_tracebacks(on: bool) -> None:
    """``--debug``: print tracebacks before the error line (and raise from :func:`fail`)."""
    _state["debug"] = on


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
