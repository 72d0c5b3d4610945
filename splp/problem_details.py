"""RFC 9457 problem bodies that SPLP's HTTP fronts answer themselves, framework-free.

The directory's API (FastAPI, :mod:`splp.web`) and the HTTP gateway (aiohttp,
:mod:`splp.gateway`) build their own problems with the same titles and types:

>>> problem_body(404, "no service a.b.v1 in the directory")["type"]
'urn:splp:problem:not-found'
"""

from __future__ import annotations

from typing import Any

from splp.errors import PROBLEM_BASE

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "timeout",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "too-many-requests",
    500: "internal",
    502: "bad-gateway",
    503: "unavailable",
    504: "timeout",
}


def problem_body(
    status: int, detail: str | None, kind: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A problem with SPLP's type for ``kind`` (by default the status's), the status's
    title, and ``extra`` members."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (kind or TYPES.get(status, "error")),
        "title": TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body
