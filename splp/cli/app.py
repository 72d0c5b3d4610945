"""The root Typer app, the shared options and the error-to-exit-code policy."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from splp import errors

if TYPE_CHECKING:
    from splp.settings import Settings

app = typer.Typer(
    name="splp",
    help="SPLP, the regency government service bus: call services, run adapters, run the demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

T = TypeVar("T")

# Exit codes: 0 success; 1 the service answered with a problem; 2 bad usage or configuration;
# 3 access denied; 4 service or broker unavailable; 5 timeout.
EXIT_REMOTE, EXIT_USAGE, EXIT_DENIED, EXIT_UNAVAILABLE, EXIT_TIMEOUT = 1, 2, 3, 4, 5

_state = {"debug": False}

# "splp" follows --debug/--verbose; the others stay at WARNING or above even with --debug:
# httpx logs full URLs and aiormq whole frames at DEBUG, and both can hold personal data.
QUIETED_LOGGERS = ("splp", "httpx", "httpcore", "aiormq", "aio_pika", "uvicorn.access")


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


def settings_from(**overrides: str | None) -> Settings:
    """:class:`Settings` from the environment, with the CLI options that were given."""
    from splp.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v})  # type: ignore[arg-type]


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, errors.AccessDenied):
        return EXIT_DENIED
    if isinstance(exc, errors.RemoteError):
        return EXIT_REMOTE
    if isinstance(exc, errors.RequestTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, errors.ServiceUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_USAGE


def fail(exc: BaseException) -> NoReturn:
    """Print ``exc`` as one line (a traceback only with ``--debug``) and exit."""
    if _state["debug"]:
        raise exc
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exit_code_for(exc))


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
