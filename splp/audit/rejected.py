"""The ``rejected`` record: what the sink stores when the store refuses an event.

Screening (:mod:`splp.audit.screen`) keeps an event's known members when they are short
scalars, so a value can still be one the database refuses: PostgreSQL stores no NUL
character in a text column, and a driver may refuse a value out of its range. Such an
event must neither stall the sink (its batch would be retried forever) nor vanish.

The sink bisects a refused batch down to the events the store refuses (see
:mod:`splp.audit.sink`) and stores, in place of each, a record of kind ``rejected`` whose
members are always storable: the printable parts of the event's metadata (each control
character replaced by U+FFFD, each string cut to 255 characters), its size and SHA-256,
and the reason. The reason names the kind of refusal (an SQLSTATE, an exception class),
never a value. Its id is derived from the event, so a redelivered batch does not store it
twice.

>>> record, flag = rejected(({"id": "a\\x00b", "kind": "response"}, None), ValueError())
>>> record["kind"], record["original"]["id"], flag
('rejected', 'a\\ufffdb', 'rejected by the store: a value the store cannot hold (ValueError)')
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, StatementError

from splp.audit.chain import canonical_json
from splp.audit.records import REJECTED_KIND
from splp.audit.screen import KNOWN, Screened

KIND = REJECTED_KIND
SOURCE = "audit-sink"
MAX_TEXT = 255

SQLSTATES = {
    "22021": "a character the database cannot store (such as NUL)",
    "22P05": "a character the database cannot store",
    "22001": "a value longer than its column",
    "22003": "a number out of range",
    "22008": "a time out of range",
    "54000": "a value over a limit of the database",
}


def is_rejection(exc: BaseException) -> bool:
    """Whether ``exc`` refuses the data itself (retrying it cannot help).

    Data exceptions of the database (SQLSTATE class 22, and 54: a limit exceeded), a
    value the driver cannot bind, and Python's own value errors are; a lost connection,
    a lock or a conflict with another writer is not.
    """
    if isinstance(exc, DataError):
        return True
    if isinstance(exc, DBAPIError):
        return (_sqlstate(exc) or "")[:2] in {"22", "54"}
    if isinstance(exc, StatementError):
        return True  # raised before the statement reached the database: binding a value
    return isinstance(exc, ValueError | TypeError | ArithmeticError)


def reason_of(exc: BaseException) -> str:
    """Why the store refused, by SQLSTATE and exception class only, never by value."""
    state = _sqlstate(exc) if isinstance(exc, DBAPIError) else None
    cause: BaseException = exc
    if isinstance(exc, StatementError) and exc.orig is not None:
        cause = exc.orig
    name = type(cause).__name__
    if state:
        what = SQLSTATES.get(state) or (
            "a value the database refused" if state.startswith("22") else "a database limit"
        )
        return f"{what} ({name}, SQLSTATE {state})"
    if isinstance(cause, UnicodeError):
        return f"text that is not valid Unicode ({name})"
    if isinstance(cause, OverflowError):
        return f"a value out of range ({name})"
    return f"a value the store cannot hold ({name})"


def rejected(screened: Screened, exc: BaseException) -> Screened:
    """The ``rejected`` record (and its flag) that stands for ``screened``."""
    event, flag = screened
    digest = _digest(event)
    reason = reason_of(exc)
    record: dict[str, Any] = {
        "id": hashlib.sha256(f"{KIND}:{digest}".encode()).hexdigest()[:32],
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "kind": KIND,
        "source": SOURCE,
        "reason": reason,
        "original": {
            name: _printable(value)
            for name, value in event.items()
            if name in KNOWN and _scalar(value)
        },
        "original_sha256": digest,
        "original_flagged": flag is not None,
    }
    return record, f"rejected by the store: {reason}"


def _sqlstate(exc: DBAPIError) -> str | None:
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    return None


def _digest(event: dict[str, Any]) -> str:
    try:
        data = canonical_json(event)
    except (TypeError, ValueError):
        data = repr(event).encode("utf-8", "backslashreplace")
    return hashlib.sha256(data).hexdigest()


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return "".join(c if c.isprintable() else "\ufffd" for c in value[:MAX_TEXT])
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)  # a number no JSON reader loses precision on
    if isinstance(value, float) and value != value:
        return None
    return value
