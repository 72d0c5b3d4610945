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

from typing import Any

from splp.national_faults import INVALID_CREDENTIALS, MISSING_CREDENTIALS, THROTTLED, Fault
from splp.problem_details import problem_body

__all__ = ["INVALID_CREDENTIALS", "MISSING_CREDENTIALS", "THROTTLED", "Fault", "fault_body"]


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
