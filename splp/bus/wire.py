"""The SPLP wire contract, protocol version 1 (see ``docs/wire-protocol.md``).

A request is an AMQP message published to ``splp.theme.<theme>`` with routing key
``<publisher>.<service>.v<major>.<operation>``, a JSON object body and these properties:
``message_id``, ``correlation_id``, ``reply_to``, ``user_id``, ``timestamp``, ``expiration``,
``content_type``, ``type`` (the operation) and headers ``splp-protocol`` and ``splp-deadline``.
A reply carries the same ``correlation_id`` and a ``splp-status`` header; a status of 400
or more comes with an RFC 9457 problem body.
"""

from __future__ import annotations

import builtins
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

import orjson
from aiormq import spec

from splp.errors import ContractError, RemoteError

PROTOCOL_VERSION = 1
HEADER_PROTOCOL = "splp-protocol"
HEADER_STATUS = "splp-status"
HEADER_DEADLINE = "splp-deadline"
HEADER_TRACEPARENT = "traceparent"
CONTENT_TYPE = "application/json"
PROBLEM_CONTENT_TYPE = "application/problem+json"


def dumps(value: Any) -> bytes:
    """Encode JSON the way the bus does (UTF-8, compact)."""
    return orjson.dumps(value)


def loads(data: bytes) -> Any:
    """Decode a body that is "UTF-8 JSON" as wire protocol §5.3 defines it.

    That is RFC 8259 JSON text in UTF-8 without a byte-order mark, with no ``NaN`` or
    ``Infinity``, no unpaired surrogate escapes and no duplicate member names in an
    object (I-JSON, RFC 7493): anything else is a :class:`ContractError`.

    >>> loads(b'{"nik": "1508010101900001"}')
    {'nik': '1508010101900001'}
    >>> loads(b'{"a": 1, "a": 2}')
    Traceback (most recent call last):
    splp.errors.ContractError: body is not valid UTF-8 JSON: duplicate member name in an object
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"body is not valid UTF-8 JSON: {exc.msg}") from None
    if isinstance(value, dict | list) and _has_duplicate_names(data):
        raise ContractError("body is not valid UTF-8 JSON: duplicate member name in an object")
    return value


class _DuplicateName(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> None:
    if len({name for name, _ in pairs}) != len(pairs):
        raise _DuplicateName
    return None


_NAMES_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_int=len, parse_float=len)


def _has_duplicate_names(data: bytes) -> bool:
    # orjson keeps the last of duplicate names silently; the standard library's C scanner
    # shows every pair to a hook (a second pass over a text orjson already accepted).
    # Numbers are not converted: only the names matter here.
    try:
        _NAMES_DECODER.decode(data.decode("utf-8"))
    except _DuplicateName:
        return True
    except RecursionError:
        raise ContractError("body is not valid UTF-8 JSON: nested too deeply") from None
    return False


def is_integer(value: object) -> bool:
    """Whether a header value reads as an integer (wire protocol §5.2): an AMQP integer
    field of any width, or a floating-point field with no fraction (JavaScript's AMQP
    clients cannot tell ``1`` from ``1.0``); never a boolean, a string or a decimal.

    >>> [is_integer(v) for v in (1, 2**40, 1.0, 1.5, True, "1")]
    [True, True, True, False, False, False]
    """
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


class Problem(Exception):
    """A problem reply (RFC 9457) a handler raises, or the adapter builds for bad input.

    >>> raise Problem.not_found("no resident with that NIK")
    Traceback (most recent call last):
    splp.bus.wire.Problem: 404 Not found: no resident with that NIK
    """

    def __init__(
        self, status: int, type_: str, title: str, detail: str | None = None, **extra: Any
    ) -> None:
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "title": title, "status": status}
        if detail is not None:
            self.body["detail"] = detail
        self.body.update(extra)
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @classmethod
    def of(
        cls,
        error: builtins.type[RemoteError],
        detail: str | None = None,
        *,
        status: int | None = None,
        **extra: Any,
    ) -> Self:
        """The problem that the caller's SDK turns back into ``error``."""
        return cls(status or error.default_status, error.problem_type, error.title, detail, **extra)

    @classmethod
    def bad_request(cls, detail: str) -> Problem:
        from splp.errors import BadRequest

        return cls.of(BadRequest, detail)

    @classmethod
    def not_found(cls, detail: str) -> Problem:
        from splp.errors import NotFound

        return cls.of(NotFound, detail)

    @classmethod
    def forbidden(cls, detail: str) -> Problem:
        from splp.errors import Forbidden

        return cls.of(Forbidden, detail)


@dataclass(slots=True)
class Request:
    """A request as the adapter sees it after the envelope checks."""

    message_id: str
    correlation_id: str
    reply_to: str | None
    requester: str | None
    operation: str
    deadline: float | None
    traceparent: str | None = None
    redelivered: bool = False
    body: bytes = b""
    received: float = field(default_factory=time.time)
    via: str | None = None
    """``"gateway"`` for a call through the HTTP gateway; ``requester`` is then the
    requester's own broker user, not the gateway user the message came from."""

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left before the caller gives up, or ``None`` without a deadline."""
        if self.deadline is None:
            return None
        return self.deadline - (time.time() if now is None else now)


def deadline_of(properties: spec.Basic.Properties) -> float | None:
    """The absolute deadline (epoch seconds) of a request.

    An integer ``splp-deadline`` (epoch milliseconds) wins; otherwise ``timestamp`` +
    ``expiration`` plus one second, since the AMQP timestamp has whole seconds only
    (without the slack a fresh request with a sub-second timeout could look expired on
    arrival). An ``splp-deadline`` of another type is not read here: the admission checks
    refuse it (400), after dropping the request if its fallback deadline has passed.
    """
    headers = properties.headers or {}
    raw = headers.get(HEADER_DEADLINE)
    if is_integer(raw):
        assert isinstance(raw, int | float)
        return raw / 1000.0
    if properties.expiration and properties.timestamp is not None:
        try:
            ttl_ms = int(properties.expiration)
        except ValueError:
            return None
        return properties.timestamp.timestamp() + ttl_ms / 1000.0 + 1.0
    return None


def request_properties(
    *,
    message_id: str,
    correlation_id: str,
    reply_to: str,
    user_id: str | None,
    operation: str,
    timeout: float,
    now: float,
    traceparent: str | None = None,
) -> spec.Basic.Properties:
    """The AMQP properties of a request (see the module docstring)."""
    headers: dict[str, Any] = {
        HEADER_PROTOCOL: PROTOCOL_VERSION,
        HEADER_DEADLINE: int((now + timeout) * 1000),
    }
    if traceparent:
        headers[HEADER_TRACEPARENT] = traceparent
    return spec.Basic.Properties(
        content_type=CONTENT_TYPE,
        delivery_mode=1,
        message_id=message_id,
        correlation_id=correlation_id,
        reply_to=reply_to,
        user_id=user_id,
        message_type=operation,
        expiration=str(max(1, int(timeout * 1000))),
        timestamp=datetime.fromtimestamp(int(now), tz=UTC),
        headers=headers,
    )


def reply_properties(correlation_id: str | None, status: int) -> spec.Basic.Properties:
    """The AMQP properties of a reply with ``splp-status`` ``status``."""
    return spec.Basic.Properties(
        content_type=CONTENT_TYPE if status < 400 else PROBLEM_CONTENT_TYPE,
        delivery_mode=1,
        correlation_id=correlation_id,
        headers={HEADER_PROTOCOL: PROTOCOL_VERSION, HEADER_STATUS: status},
    )


def status_of(properties: spec.Basic.Properties) -> int:
    """The ``splp-status`` of a reply; a reply without one is a contract breach (502)."""
    status = (properties.headers or {}).get(HEADER_STATUS)
    if is_integer(status) and isinstance(status, int | float) and 100 <= status <= 599:
        return int(status)
    return 502
