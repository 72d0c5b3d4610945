"""The CSRF token of a session: derived from the session cookie, so it needs no storage and
a page of another site, which cannot read the cookie, cannot know it.

>>> csrf_token("splp_abc") == csrf_token("splp_abc") != csrf_token("splp_abd")
True
>>> csrf_matches("splp_abc", csrf_token("splp_abc")), csrf_matches("splp_abc", None)
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
"""The hidden field of the portal's forms."""


def csrf_token(cookie: str) -> str:
    """The CSRF token that goes with the session cookie ``cookie``."""
    return hashlib.sha256(b"splp-csrf:" + cookie.encode("ascii", "replace")).hexdigest()


def csrf_matches(cookie: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(cookie), presented)
