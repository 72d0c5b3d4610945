"""One i18n mechanism for the portal: gettext catalogs (``locale/<lang>/LC_MESSAGES/
portal.po``) read with Babel. Message ids are English; Bahasa Indonesia is the default
language, English the other. Dates and times are shown in WIB (Asia/Jakarta).

>>> gettext_for("id")("Sign in")
'Masuk'
>>> gettext_for("en")("Sign in")
'Sign in'
>>> from datetime import UTC, datetime
>>> when(datetime(2026, 11, 30, 17, 30, tzinfo=UTC), "id")
'1 Des 2026 00.30 WIB'
>>> number(21.301, "id"), number(1234, "id"), number(21.301, "en"), number(None, "id")
('21,3', '1.234', '21.3', '')
>>> number(99.028, "id", 3), number(100.0, "id", 3), number(99.028, "en", 3)
('99,028', '100', '99.028')
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("id", "en")
DEFAULT = "id"
WIB = ZoneInfo("Asia/Jakarta")
LOCALE = Path(__file__).resolve().parent / "locale"


@cache
def catalog(language: str) -> dict[str, str]:
    """msgid -> msgstr of ``language`` (empty for English, whose ids are the text)."""
    path = LOCALE / language / "LC_MESSAGES" / "portal.po"
    if not path.exists():
        return {}
    with path.open("rb") as file:
        messages = read_po(file, locale=language)
    return {str(m.id): str(m.string) for m in messages if m.id and m.string}


def gettext_for(language: str) -> Callable[..., str]:
    """``gettext(message, **variables)``: the translation, with ``%(name)s`` filled in."""
    table = catalog(language if language in LANGUAGES else DEFAULT)

    def gettext(message: str, **variables: object) -> str:
        text = table.get(message, message)
        return text % variables if variables else text

    return gettext


def ngettext_for(language: str) -> Callable[..., str]:
    gettext = gettext_for(language)

    def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
        return gettext(singular if n == 1 else plural, n=n, **variables)

    return ngettext


def when(value: datetime | str | None, language: str) -> str:
    """A moment in WIB, e.g. ``1 Des 2026 00.30 WIB``; empty for none."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    locale = "id_ID" if language == "id" else "en_GB"
    return format_datetime(moment, "d MMM y HH.mm", tzinfo=WIB, locale=locale) + " WIB"


def number(value: float | None, language: str, places: int = 1) -> str:
    """A number as the language writes it, to ``places`` decimals at most (one unless
    told, three for an availability); empty for none."""
    if value is None:
        return ""
    locale = "id_ID" if language == "id" else "en_GB"
    pattern = "#,##0." + "#" * places if places > 0 else "#,##0"
    return format_decimal(value, pattern, locale=locale)
