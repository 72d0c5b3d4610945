"""The data subject of a request, as a keyed HMAC (UU 27/2022 accountability without a
register of NIKs).

A service declares which request field names its data subject (``subject_field: nik``).
The adapter puts ``subject`` = ``k<key id>:<HMAC-SHA256 hex>`` of that field's value in
the request's audit event, under the newest key of the control plane. Without the key
the HMAC cannot be reversed by trying all 10^16 NIKs; with it, the control plane
answers "who accessed this subject's data" by computing the HMAC of a given value under
every key it keeps (``splp audit subject``). The value itself is never stored or logged.

>>> key = SubjectKey(3, bytes(32))
>>> subject_hmac(key, "1508010101900001")[:12]
'k3:4ac0c8f76'
>>> subject_hmac(key, 1508010101900001) == subject_hmac(key, "1508010101900001")
True
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, repr=False)
class SubjectKey:
    """One version of the subject HMAC key; its ``repr`` never shows the secret."""

    key_id: int
    secret: bytes

    def __repr__(self) -> str:
        return f"SubjectKey({self.key_id}, <secret>)"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubjectKey:
        """From the directory's ``{"key_id": 3, "secret": "<64 hex digits>"}``."""
        secret = bytes.fromhex(str(data["secret"]))
        if len(secret) < 16:
            raise ValueError("a subject key has at least 16 bytes")
        return cls(int(data["key_id"]), secret)


def subject_text(value: Any) -> str | None:
    """The text the HMAC is taken of: a string as it is, an integer in decimal; ``None``
    for any other value (it names no subject)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    return None


def subject_hmac(key: SubjectKey, value: Any) -> str | None:
    """``k<key id>:<hex HMAC-SHA256>`` of ``value``, or ``None`` when it names no subject."""
    text = subject_text(value)
    if not text:
        return None
    digest = hmac.new(key.secret, text.encode(), hashlib.sha256).hexdigest()
    return f"k{key.key_id}:{digest}"
