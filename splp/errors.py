"""One exception tree for SPLP.

::

    SplpError
     +-- ConfigurationError (ValueError)      bad settings, descriptor or adapter config
     +-- ContractError (ValueError)           a message breaks the wire contract locally
     +-- ServiceUnavailable                   no route to the service, or the broker is gone
     |    +-- ConnectionLost                  the connection dropped while a call was in flight
     +-- RequestTimeout (TimeoutError)        no reply before the caller's deadline
     +-- AccessDenied (PermissionError)       the broker refused the publish (ACCESS_REFUSED)
     +-- RemoteError                          the service answered with a problem (RFC 9457)
          +-- BadRequest                      400
          |    +-- SchemaViolation            400, request failed the operation's schema
          +-- Forbidden (AccessDenied)        403, the adapter refused the caller
          +-- NotFound                        404
          +-- DeadlineExpired                 408
          +-- PayloadTooLarge                 413
          +-- TooManyRequests                 429, ``retry_after`` in seconds
          +-- InternalError                   500
          +-- UpstreamError                   502, the agency API failed
          |    +-- UpstreamAuth               502, it refused the adapter's own credentials
          +-- UpstreamTimeout                 504, the agency API did not answer in time

A problem crosses the wire as data (its ``type`` URI) and comes back as the class
registered for that type by :func:`error_from_problem`.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "urn:splp:problem:"


class SplpError(Exception):
    """Base of every error SPLP raises."""


class ConfigurationError(SplpError, ValueError):
    """Settings, a descriptor or an adapter configuration is invalid."""


class ContractError(SplpError, ValueError):
    """A message or value does not follow the SPLP wire contract."""


class ServiceUnavailable(SplpError):
    """The service cannot be reached: no queue is bound for it, or the broker is gone."""


class ConnectionLost(ServiceUnavailable):
    """The broker connection dropped while the call was in flight."""


class RequestTimeout(SplpError, TimeoutError):
    """No reply arrived before the call's deadline."""


class AccessDenied(SplpError, PermissionError):
    """The caller is not allowed to make this call."""


class RemoteError(SplpError):
    """The service answered with a problem reply (RFC 9457 problem details).

    ``status`` is the ``splp-status`` of the reply and ``problem`` the decoded body.
    """

    default_status: ClassVar[int] = 500
    problem_type: ClassVar[str] = "about:blank"
    title: ClassVar[str] = "Remote error"

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        title = problem.get("title") or "remote error"
        detail = problem.get("detail")
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))

    @property
    def type(self) -> str:
        return str(self.problem.get("type", "about:blank"))

    @property
    def detail(self) -> str | None:
        detail = self.problem.get("detail")
        return str(detail) if detail is not None else None


class BadRequest(RemoteError):
    default_status: ClassVar[int] = 400
    problem_type = PROBLEM_BASE + "bad-request"
    title = "Bad request"


class SchemaViolation(BadRequest):
    default_status: ClassVar[int] = 400
    problem_type = PROBLEM_BASE + "schema-violation"
    title = "Schema violation"


class Forbidden(RemoteError, AccessDenied):
    default_status: ClassVar[int] = 403
    problem_type = PROBLEM_BASE + "forbidden"
    title = "Forbidden"


class NotFound(RemoteError):
    default_status: ClassVar[int] = 404
    problem_type = PROBLEM_BASE + "not-found"
    title = "Not found"


class DeadlineExpired(RemoteError):
    default_status: ClassVar[int] = 408
    problem_type = PROBLEM_BASE + "deadline-expired"
    title = "Deadline expired"


class PayloadTooLarge(RemoteError):
    default_status: ClassVar[int] = 413
    problem_type = PROBLEM_BASE + "payload-too-large"
    title = "Payload too large"


class TooManyRequests(RemoteError):
    default_status: ClassVar[int] = 429
    problem_type = PROBLEM_BASE + "too-many-requests"
    title = "Too many requests"

    @property
    def retry_after(self) -> float | None:
        value = self.problem.get("retry_after")
        return float(value) if isinstance(value, int | float) else None


class InternalError(RemoteError):
    default_status: ClassVar[int] = 500
    problem_type = PROBLEM_BASE + "internal"
    title = "Internal error"


class UpstreamError(RemoteError):
    default_status: ClassVar[int] = 502
    problem_type = PROBLEM_BASE + "upstream-error"
    title = "Agency API error"


class UpstreamAuth(UpstreamError):
    """The agency API (or the national platform in front of it) refused the adapter's own
    credentials: a 401, or fault 900901/900902. Not the caller's fault, hence a 502."""

    default_status: ClassVar[int] = 502
    problem_type = PROBLEM_BASE + "upstream-auth"
    title = "Agency API refused the adapter's credentials"


class UpstreamTimeout(RemoteError):
    default_status: ClassVar[int] = 504
    problem_type = PROBLEM_BASE + "upstream-timeout"
    title = "Agency API timeout"


_BY_TYPE: dict[str, type[RemoteError]] = {
    cls.problem_type: cls
    for cls in (
        BadRequest,
        SchemaViolation,
        Forbidden,
        NotFound,
        DeadlineExpired,
        PayloadTooLarge,
        TooManyRequests,
        InternalError,
        UpstreamError,
        UpstreamAuth,
        UpstreamTimeout,
    )
}

_BY_STATUS: dict[int, type[RemoteError]] = {
    cls.default_status: cls
    for cls in _BY_TYPE.values()
    if cls not in (SchemaViolation, UpstreamAuth)
}


def error_from_problem(status: int, problem: dict[str, Any]) -> RemoteError:
    """Turn a problem reply into its typed exception: by ``type`` first, then by status."""
    cls = _BY_TYPE.get(str(problem.get("type", ""))) or _BY_STATUS.get(status, RemoteError)
    return cls(status, problem)
