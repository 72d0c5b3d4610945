"""The gateway's error answers: RFC 9457 problems that also carry the national
platform's fault codes, so that one client library can talk to both.

The national SPLP (WSO2 API Manager) answers a missing credential with fault 900902, a
bad or expired one with 900901 and a throttled call with 900804; its bodies have the
members ``code``, ``message`` and ``description``. The gateway's problems carry those
members beside ``type``, ``title``, ``status`` and ``detail``:

>>> body = fault_body(401, MISSING_CREDENTIALS, "send 'Authorization: Bearer TOKEN'")
>>> body["code"], body["message"], body["status"]
('900902', 'Missing Credentials', 401)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from splp.errors import PROBLEM_BASE

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Fault:
    code: str
    message: str
    kind: str


INVALID_CREDENTIALS = Fault("900901", "Invalid Credentials", "invalid-credentials")
MISSING_CREDENTIALS = Fault("900902", "Missing Credentials", "missing-credentials")
THROTTLED = Fault("900804", "Message throttled out", "too-many-requests")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
KINDS = {
    400: "bad-request",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "timeout",
    413: "payload-too-large",
    415: "unsupported-media-type",
    500: "internal",
    502: "bad-gateway",
    503: "unavailable",
    504: "timeout",
}


def problem_body(status: int, detail: str, kind: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem of the gateway itself (not a reply from the bus)."""
    return {
        "type": PROBLEM_BASE + (kind or KINDS.get(status, "error")),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }


def fault_body(status: int, fault: Fault, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem with the national platform's fault members."""
    return problem_body(
        status,
        detail,
        fault.kind,
        code=fault.code,
        message=fault.message,
        description=detail,
        **extra,
    )
