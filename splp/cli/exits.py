"""The exit-code policy of ``splp``, and every failure as one line of text.

=====  =================================================================================
code   meaning
=====  =================================================================================
0      success
1      the directory or the service answered with a problem (404 not found, 409 conflict,
       400 schema violation, ...), a check failed (``audit verify``), or an unexpected error
2      bad usage: arguments, options, JSON, files, database URL or other configuration
3      access denied: 401/403 from the directory or a service, the broker refused
4      unavailable: the directory, broker, management API or database cannot be reached
5      timeout: no reply before the deadline
130    interrupted (Ctrl-C)
=====  =================================================================================

:func:`describe` maps an exception, SPLP's own or a library's (SQLAlchemy, aiormq, OSError),
to its code and one line without secrets: URLs lose their passwords, database errors their
SQL and parameters. HTTP failures arrive as SPLP errors: the directory client
(:mod:`splp.bus.directory_client`) and the management API client map their own.
"""

from __future__ import annotations

import json
import re
import socket
import sys

from splp import errors

EXIT_OK, EXIT_REMOTE, EXIT_USAGE, EXIT_DENIED, EXIT_UNAVAILABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130

POLICY = (
    "Exit codes:\n"
    "  0    success\n"
    "  1    a problem answer (404 not found, 409 conflict, ...) or a failed check\n"
    "  2    bad usage: arguments, JSON, files, database URL, configuration\n"
    "  3    access denied (401/403, the broker refused)\n"
    "  4    directory, broker or database unreachable\n"
    "  5    timeout\n"
    "  130  interrupted"
)

_CREDENTIALS = re.compile(r"(?<=://)([^/@\s:]*):[^@/\s]*@")


def exit_code_for(exc: BaseException) -> int:
    """The exit code of ``exc``: an :class:`~splp.errors.SplpError` or any other failure."""
    return describe(exc)[0]


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message (without ``error:``) for ``exc``."""
    code, message = _classify(exc)
    return code, one_line(message)


def one_line(text: str) -> str:
    """``text`` on one line, with the password of any URL in it hidden."""
    return _CREDENTIALS.sub(r"\1:***@", " ".join(text.split()))


def _classify(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, errors.SplpError):
        return _splp(exc), str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    for foreign in (_database, _broker):
        found = foreign(exc)
        if found is not None:
            return found
    if isinstance(exc, json.JSONDecodeError):
        return EXIT_USAGE, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return EXIT_USAGE, f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    if isinstance(exc, TimeoutError):
        return EXIT_TIMEOUT, f"timed out{_detail(exc)}"
    if isinstance(exc, ConnectionError | socket.gaierror):
        return EXIT_UNAVAILABLE, f"cannot connect: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_USAGE, f"cannot use {exc.filename}: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, OSError):
        return EXIT_UNAVAILABLE, f"{type(exc).__name__}{_detail(exc)}"
    return EXIT_REMOTE, f"unexpected {type(exc).__name__}{_detail(exc)} (--debug shows where)"


def _splp(exc: errors.SplpError) -> int:
    if isinstance(exc, errors.AccessDenied):
        return EXIT_DENIED
    if isinstance(exc, errors.RemoteError):
        return EXIT_REMOTE
    if isinstance(exc, errors.RequestTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, errors.ServiceUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_USAGE


def _detail(exc: BaseException) -> str:
    text = str(exc)
    return f": {text}" if text else ""


def _database(exc: BaseException) -> tuple[int, str] | None:
    """SQLAlchemy's errors, checked only when SQLAlchemy was imported (it raised them)."""
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is None or not isinstance(exc, sa.SQLAlchemyError):
        return None
    if isinstance(exc, sa.ArgumentError | sa.NoSuchModuleError):
        return EXIT_USAGE, f"not a usable database URL: {exc}"
    if isinstance(exc, sa.DBAPIError):
        # str(exc) holds the SQL and its parameters (personal data): only the driver's words
        cause = str(exc.orig).replace("<class '", "").replace("'>", "")
        if "no such table" in cause or ('relation "' in cause and "does not exist" in cause):
            return EXIT_USAGE, f"the database has no SPLP tables ({cause}): run splp directory init"
        return EXIT_UNAVAILABLE, f"cannot use the database: {cause or type(exc.orig).__name__}"
    return EXIT_REMOTE, f"database error: {type(exc).__name__}"


def _broker(exc: BaseException) -> tuple[int, str] | None:
    """aiormq's (and so aio-pika's) connection errors."""
    amqp = sys.modules.get("aiormq.exceptions")
    if amqp is None or not isinstance(exc, amqp.AMQPError):
        return None
    if isinstance(exc, amqp.ProbableAuthenticationError):
        return EXIT_DENIED, "the broker refused the credentials"
    if isinstance(exc, amqp.AMQPConnectionError):
        return EXIT_UNAVAILABLE, f"cannot reach the broker{_detail(exc)}"
    return EXIT_REMOTE, f"broker error: {type(exc).__name__}{_detail(exc)}"
