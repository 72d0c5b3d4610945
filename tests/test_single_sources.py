"""Naming rules and state lists are written once; the language-neutral copies must agree.

The JSON Schemas in ``schemas/`` and the wire protocol document are read by non-Python
clients, so they repeat the patterns of :mod:`splp.bus.names` rather than import them:
these tests hold each copy equal to its source.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from splp.bus.descriptor import VERSION_PATTERN, Classification, parse_descriptor
from splp.bus.names import (
    NAME_PATTERN,
    SEGMENT_PATTERN,
    SERVICE_REF_PATTERN,
    ServiceRef,
    check_segment,
)
from splp.directory_service.workflow import STEPS, TERMINAL, TRANSITIONS
from splp.errors import ContractError
from splp.vocabulary import ACCESS_STATES

ROOT = Path(__file__).resolve().parent.parent


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    return loaded


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("service-descriptor", ("$defs", "name")),
        ("envelope", ("$defs", "segment")),
        ("audit-event", ("$defs", "segment")),
    ],
)
def test_the_schemas_name_pattern_is_the_bus_naming_rule(name: str, where: tuple[str, ...]) -> None:
    node = schema(name)
    for key in where:
        node = node[key]
    assert node["pattern"] == NAME_PATTERN


def test_control_plane_audit_kinds_are_built_from_a_name_segment() -> None:
    kind = schema("audit-event")["$defs"]["control_kind"]
    assert kind["pattern"] == rf"^(access|admin|broker)\.{SEGMENT_PATTERN}$"
    assert all(step in kind["description"] for step in STEPS)


def test_the_descriptor_schema_repeats_the_version_rule_and_the_classifications() -> None:
    properties = schema("service-descriptor")["properties"]
    assert properties["version"]["pattern"] == VERSION_PATTERN
    assert tuple(properties["classification"]["enum"]) == get_args(Classification)


def test_the_wire_protocol_document_shows_the_naming_rule() -> None:
    text = (ROOT / "docs" / "wire-protocol.md").read_text()
    assert f"\n{NAME_PATTERN}\n" in text


@pytest.mark.parametrize("name", ["abc\n", "abc\r", "-abc", "abc-", "a" * 64, "Abc", "a.b", ""])
def test_a_name_is_checked_to_its_very_end(name: str) -> None:
    with pytest.raises(ContractError):
        check_segment(name)
    assert re.fullmatch(NAME_PATTERN, name) is None


def test_a_version_is_checked_to_its_very_end() -> None:
    doc = {"publisher": "dukcapil", "service": "penduduk", "theme": "kependudukan",
           "title": "t", "operations": {"get": {"request": {}, "response": {}}}}  # fmt: skip
    assert parse_descriptor({**doc, "version": "1.0.0"}).major == 1
    for version in ("1.0.0\n", "1.0.٣", "01.0.0"):
        with pytest.raises(ValueError, match=r"is not MAJOR\.MINOR\.PATCH"):
            parse_descriptor({**doc, "version": version})


PIECES = st.sampled_from(["dukcapil", "a", "a-b", "-a", "b-", "v1", "v01", "v1234567", "A", ""])


@given(st.lists(PIECES, min_size=1, max_size=4).map(".".join))
def test_the_service_reference_pattern_accepts_what_service_ref_parses(text: str) -> None:
    try:
        ServiceRef.parse(text)
        parses = True
    except ContractError:
        parses = False
    assert (re.fullmatch(SERVICE_REF_PATTERN, text) is not None) == parses


def test_the_workflow_moves_between_exactly_the_access_states() -> None:
    used = {state for t in TRANSITIONS.values() for state in (*t.source, t.target)}
    assert used == set(ACCESS_STATES)
    assert set(TRANSITIONS) == set(STEPS)
    assert TERMINAL.issubset(ACCESS_STATES)


def test_a_counted_audit_record_is_defined_once() -> None:
    """Every report leaves out forged and rejected records through
    :func:`splp.audit.records.counted` (or its SQL, ``COUNTED_SQL``), never through a
    condition of its own that the next report could forget."""
    own_condition = re.compile(
        r"provenance IS NULL|provenance\.is_\(None\)|kind\s*(?:!=|<>)\s*['\"]rejected"
    )
    spelled = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "splp").rglob("*.py")
        if "migrations" not in path.parts
        and path.name != "records.py"
        and own_condition.search(path.read_text(encoding="utf-8"))
    )
    assert spelled == []
