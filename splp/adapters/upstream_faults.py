"""The national platform's fault codes in an agency API's answer, and ``Retry-After``.

An API manager in front of the agency API (the national SPLP, very likely WSO2 API
Manager) answers its own refusals with a fault body, in one of two JSON shapes or, to a
client that did not ask for JSON, in XML:

>>> fault_code(b'{"code":"900901","message":"Invalid Credentials","description":"..."}')
'900901'
>>> fault_code(b'{"fault":{"code":900804,"message":"Message throttled out"}}')
'900804'
>>> fault_code(b'<ams:fault xmlns:ams="http://wso2.org/apimanager/security">'
...            b'<ams:code>900902</ams:code></ams:fault>')
'900902'
>>> fault_code(b'{"detail": "no resident"}') is None
True

Only the code is read: the fault's message and description are the platform's words and
never reach the caller.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

from splp import national_faults
from splp.bus.wire import loads

INVALID_CREDENTIALS = national_faults.INVALID_CREDENTIALS.code
MISSING_CREDENTIALS = national_faults.MISSING_CREDENTIALS.code
THROTTLED = national_faults.THROTTLED.code
AUTH_FAULTS = {
    fault.code: fault.message
    for fault in (national_faults.INVALID_CREDENTIALS, national_faults.MISSING_CREDENTIALS)
}

_MAX_FAULT_BYTES = 16_384  # a fault is a few hundred bytes; a larger body is an answer
_XML_CODE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?code>\s*(\d{6})\s*</")


def fault_code(body: bytes) -> str | None:
    """The six-digit fault code of an API manager's fault body, if ``body`` is one."""
    if not body or len(body) > _MAX_FAULT_BYTES:
        return None
    if body.lstrip().startswith(b"<"):
        match = _XML_CODE.search(body)
        return match.group(1).decode() if match else None
    try:
        document = loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    code = document.get("code")
    fault = document.get("fault")
    if code is None and isinstance(fault, dict):
        code = fault.get("code")
    if isinstance(code, bool):
        return None
    text = str(code) if isinstance(code, int | str) else ""
    return text if re.fullmatch(r"\d{6}", text) else None


def retry_after_seconds(value: str | None) -> int | None:
    """``Retry-After`` in whole seconds, from delay-seconds or an HTTP date; else None.

    >>> retry_after_seconds("7"), retry_after_seconds("soon"), retry_after_seconds(None)
    (7, None, None)
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0, round(moment.timestamp() - time.time()))
