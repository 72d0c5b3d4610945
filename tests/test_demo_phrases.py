"""The demo's two narrations: the same lines in English and Bahasa Indonesia."""

from __future__ import annotations

import string

import pytest

from splp.demo.phrases import LANGUAGES, TEMPLATES, Phrases

# The Indonesian line gives the broker's own reason, not the SDK's English sentence.
OWN_FIELDS = {("id", "say.refused"): {"reason"}}


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_language_has_every_line() -> None:
    assert set(TEMPLATES) == set(LANGUAGES)
    for language in LANGUAGES:
        assert set(TEMPLATES[language]) == set(TEMPLATES["en"]), language


@pytest.mark.parametrize("key", sorted(TEMPLATES["en"]))
def test_the_lines_take_the_same_fields(key: str) -> None:
    english = fields(TEMPLATES["en"][key])
    for language in LANGUAGES:
        own = OWN_FIELDS.get((language, key))
        if own:
            assert fields(TEMPLATES[language][key]) - own <= english, (language, key)
        else:
            assert fields(TEMPLATES[language][key]) == english, (language, key)


def test_the_indonesian_lines_differ_from_the_english() -> None:
    same = {k for k, v in TEMPLATES["id"].items() if v == TEMPLATES["en"][k]}
    # the audit record prefix and the requester role are the same word in both
    assert same == {"say.record", "usage.by-requester"}


def test_an_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no narration in 'fr'"):
        Phrases("fr")


def test_a_line_is_filled_in() -> None:
    assert Phrases("id")("say.granted", state="granted", quota=6) == (
        "dukcapil memberikan akses: granted, kuota 6 panggilan/menit"
    )
    assert Phrases()("say.granted", state="granted", quota=6) == (
        "dukcapil granted: granted, quota 6 calls/minute"
    )
