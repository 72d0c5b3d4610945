"""What an access request to personal data states, and the terms of its grant (UU 27/2022).

The demo's population register is classified ``personal``: every test that walks the
access procedure on it states a purpose, a legal basis and a contact, records the
administrator's data-protection check, and grants with a quota and an expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

STATEMENT = {
    "purpose": "bansos eligibility checks",
    "legal_basis": "Permensos 3/2021 Pasal 5",
    "contact": "Kabid Linjamsos, linjamsos@dinsos.example",
}
NOTE = {"data_protection_note": "purpose, legal basis and contact checked"}
BIG_QUOTA = 100_000


def grant_terms(quota: int | None = BIG_QUOTA, days: int = 90) -> dict[str, Any]:
    """A quota and an expiry ``days`` from now, as a grant body needs for personal data."""
    expires = (datetime.now(UTC) + timedelta(days=days)).isoformat()
    return {"quota_per_minute": quota, "expires_at": expires}
