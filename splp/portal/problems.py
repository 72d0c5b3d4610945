"""The directory API's problems as the portal tells them: a known problem (by its
``type``, and the wording of its ``detail``) becomes a message of the portal's catalog, in
the person's language, with the names it carries filled in; any other keeps the API's own
``detail``.

>>> message({"type": "urn:splp:problem:not-found",
...          "detail": "no service dukcapil.x.v1 in the directory"})
('The service %(ref)s is not in the directory.', {'ref': 'dukcapil.x.v1'})
>>> message({"type": "urn:splp:problem:conflict", "detail": "something new"})
('something new', {})
"""

from __future__ import annotations

import re
from typing import Any

from splp.portal.words import N_

KNOWN: list[tuple[str, str, str]] = [  # (problem type, pattern of the detail, message)
    (
        "forbidden",
        r"^(?P<party>\S+) may only publish its own services, not (?P<owner>\S+)'s$",
        N_("%(party)s may only publish its own services, not those of %(owner)s."),
    ),
    (
        "forbidden",
        r"^this needs the role (?P<role>[\w ,|-]+); (?P<party>\S+) has (?P<roles>.*)$",
        N_("This needs the role %(role)s; %(party)s has %(roles)s."),
    ),
    (
        "forbidden",
        r"^send the session's CSRF token",
        N_("The form has expired: reload the page and try again."),
    ),
    (
        "not-found",
        r"^no service (?P<ref>\S+) in the directory$",
        N_("The service %(ref)s is not in the directory."),
    ),
    (
        "unprocessable",
        r"^unknown theme '(?P<theme>[^']*)': an administrator adds it first$",
        N_("The theme %(theme)s is unknown: an administrator adds it first."),
    ),
    (
        "conflict",
        r"^(?P<ref>\S+) version (?P<version>\S+) is published already$",
        N_("Version %(version)s of %(ref)s is published already."),
    ),
    (
        "conflict",
        r"^(?P<ref>\S+) has version (?P<version>\S+) already; a new version must be greater$",
        N_("%(ref)s has version %(version)s already: a new version must be greater."),
    ),
    (
        "breaking-change",
        r"^version (?P<version>\S+) would break callers of (?P<current>\S+):",
        N_(
            "Version %(version)s would break the callers of %(current)s: publish it as a new "
            "major version."
        ),
    ),
    (
        "not-previewed",
        r"",
        N_("The descriptor is not the one previewed: preview it again."),
    ),
    (
        "bad-request",
        r"^the request body is not valid JSON$",
        N_("The text is not valid JSON."),
    ),
    (
        "unauthorized",
        r"^wrong e-mail address, password or code$",
        N_("Wrong e-mail address, password or code."),
    ),
    (
        "unauthorized",
        r"^this account needs the 6-digit code",
        N_("This account needs the 6-digit code of its authenticator app."),
    ),
    (
        "unauthorized",
        r"^the session has ended",
        N_("Your session has ended: sign in again."),
    ),
    (
        "too-many-requests",
        r"",
        N_("Too many attempts: wait a while and try again, or ask an administrator."),
    ),
    (
        "unprocessable",
        r"^since and until must be real days",
        N_("Give real days (YYYY-MM-DD)."),
    ),
    (
        "unprocessable",
        r"^the period ends before it starts",
        N_("The period ends before it starts."),
    ),
    (
        "unprocessable",
        r"is not a period: (give|use) ",
        N_("Give the period as a year (2026), a semester (2026-S2) or a month (2026-11)."),
    ),
    (
        "unprocessable",
        r": the month must be 01 to 12$|: there is no month",
        N_("There is no such month: give 01 to 12."),
    ),
    (
        "unavailable",
        r"",
        N_("The directory cannot answer now; try again later."),
    ),
    (
        "internal",
        r"",
        N_("The directory failed; the error is in its log."),
    ),
]
_COMPILED = [(kind, re.compile(pattern), msgid) for kind, pattern, msgid in KNOWN]
PREFIX = "urn:splp:problem:"


def message(problem: Any) -> tuple[str, dict[str, str]]:
    """``(msgid, variables)`` for a problem body; the API's ``detail`` (no variables)
    when the problem is not a known one."""
    if not isinstance(problem, dict):
        return str(problem or ""), {}
    kind = str(problem.get("type", "")).removeprefix(PREFIX)
    detail = str(problem.get("detail", ""))
    for known, pattern, msgid in _COMPILED:
        if known == kind and (found := pattern.search(detail)) is not None:
            return msgid, {k: v for k, v in found.groupdict().items() if v is not None}
    return detail, {}
