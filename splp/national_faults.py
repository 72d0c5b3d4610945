"""The national SPLP's fault codes (WSO2 API Manager), written once.

The HTTP gateway answers with them, so that one client library talks to the regency's
gateway and the national one alike; the HTTP adapter reads them in a national API's
answers when it fronts one.

>>> INVALID_CREDENTIALS.code, THROTTLED.message
('900901', 'Message throttled out')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault: its code, the platform's message, and SPLP's problem type for it."""

    code: str
    message: str
    kind: str


INVALID_CREDENTIALS = Fault("900901", "Invalid Credentials", "invalid-credentials")
MISSING_CREDENTIALS = Fault("900902", "Missing Credentials", "missing-credentials")
THROTTLED = Fault("900804", "Message throttled out", "too-many-requests")
