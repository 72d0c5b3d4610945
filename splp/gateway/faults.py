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

from splp.problem_details import problem_body


@dataclass(frozen=True, slots=True)
class Fault:
    code: str
    message: str
    kind: str


INVALID_CREDENTIALS = Fault("900901", "Invalid Credentials", "invalid-credentials")
MISSING_CREDENTIALS = Fault("900902", "Missing Credentials", "missing-credentials")
THROTTLED = Fault("900804", "Message throttled out", "too-many-requests")


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
