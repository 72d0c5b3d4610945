"""The Indonesian catalog is complete: every message the templates and the portal's
Python code mark (``_()``, ``gettext``, ``ngettext``, ``N_()``), as Babel extracts them
with ``splp/portal/babel.cfg``, has a non-empty, non-fuzzy translation in ``portal.po``."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "splp" / "portal"
PO = PORTAL / "locale" / "id" / "LC_MESSAGES" / "portal.po"


def extracted() -> dict[str, str]:
    """msgid -> where it was first found (file:line)."""
    with (PORTAL / "babel.cfg").open(encoding="utf-8") as file:
        method_map, options_map = parse_mapping_cfg(file, filename=str(PORTAL / "babel.cfg"))
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_the_extraction_finds_the_templates_and_the_python_code() -> None:
    found = extracted()
    assert "Sign in" in found  # a template
    assert "publisher" in found  # words.py (N_)
    assert any(".html:" in where for where in found.values())
    assert any(".py:" in where for where in found.values())
    assert len(found) > 100


def test_every_message_has_a_non_empty_indonesian_translation() -> None:
    with PO.open("rb") as file:
        catalog = read_po(file, locale="id")
    fuzzy = sorted(str(m.id) for m in catalog if m.id and m.fuzzy)
    assert fuzzy == [], f"fuzzy translations in {PO.name}: {fuzzy}"
    translated = {str(m.id) for m in catalog if m.id and str(m.string).strip()}
    missing = {msgid: where for msgid, where in extracted().items() if msgid not in translated}
    assert missing == {}, f"messages without an Indonesian translation: {missing}"
