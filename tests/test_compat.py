"""Compatibility of service versions: each kind of breaking change, and the changes that are not."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splp.bus.compat import breaking_changes, check_version_bump
from splp.bus.descriptor import ServiceDescriptor, load_descriptor, parse_descriptor

DEMO = Path(__file__).resolve().parent.parent / "splp" / "demo" / "penduduk.yaml"
OP = "operation get-by-nik"


@pytest.fixture
def old() -> ServiceDescriptor:
    return load_descriptor(DEMO)


def evolve(old: ServiceDescriptor, version: str = "1.1.0", **changes: Any) -> ServiceDescriptor:
    """A copy of ``old`` at ``version``, with ``changes`` applied to the raw document.

    ``request`` and ``response`` are functions that edit the get-by-nik schemas in place.
    """
    doc = copy.deepcopy(old.model_dump())
    doc["version"] = version
    operation = doc["operations"]["get-by-nik"]
    for part in ("request", "response"):
        if edit := changes.pop(part, None):
            edit(operation[part])
    doc.update(changes)
    return parse_descriptor(doc)


def test_an_identical_version_is_compatible(old: ServiceDescriptor) -> None:
    assert breaking_changes(old, evolve(old)) == []


# --- breaking changes ---------------------------------------------------------------


def test_removed_operation(old: ServiceDescriptor) -> None:
    other = {"request": {"type": "object"}, "response": {"type": "object"}}
    new = evolve(old, operations={"other": other})
    assert breaking_changes(old, new) == [f"{OP} removed"]


def test_changed_theme_moves_the_exchange(old: ServiceDescriptor) -> None:
    (reason,) = breaking_changes(old, evolve(old, theme="kesehatan"))
    assert reason.startswith("theme changed from kependudukan to kesehatan")


def test_required_request_field_added(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"]["reason"] = {"type": "string"}
        schema["required"].append("reason")

    assert breaking_changes(old, evolve(old, request=edit)) == [
        f"{OP}: request field reason is now required"
    ]


def test_required_field_added_in_a_nested_object() -> None:
    address = {"type": "object", "properties": {"city": {"type": "string"}}}
    base = descriptor_with(request={"type": "object", "properties": {"address": address}})
    stricter = copy.deepcopy(address) | {"required": ["city"]}
    new = descriptor_with("1.0.1", request={"type": "object", "properties": {"address": stricter}})
    assert breaking_changes(base, new) == [
        "operation op: request field address.city is now required"
    ]


def test_removed_response_field(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        del schema["properties"]["district"]

    assert breaking_changes(old, evolve(old, response=edit)) == [
        f"{OP}: response field district removed"
    ]


def test_removed_response_field_even_when_no_longer_producible(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        del schema["properties"]["district"]
        schema["additionalProperties"] = False

    assert f"{OP}: response field district removed" in breaking_changes(
        old, evolve(old, response=edit)
    )


def test_response_field_no_longer_required(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        schema["required"].remove("village")

    assert breaking_changes(old, evolve(old, response=edit)) == [
        f"{OP}: response field village is no longer always present (it was required)"
    ]


def test_removed_required_response_field_is_reported_once(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        del schema["properties"]["village"]
        schema["required"].remove("village")

    assert breaking_changes(old, evolve(old, response=edit)) == [
        f"{OP}: response field village removed"
    ]


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            {"type": ["string", "null"]},
            {"type": "string"},
            "type narrowed from null|string to string",
        ),
        ({"type": "number"}, {"type": "integer"}, "type narrowed from number to integer"),
        ({}, {"type": "string"}, "type narrowed from any to string"),
        ({"type": "string"}, {"type": "string", "enum": ["a", "b"]}, 'enum ["a", "b"] added'),
        (
            {"enum": ["a", "b", "c"]},
            {"enum": ["a", "b"]},
            'enum narrowed: ["c"] no longer accepted',
        ),
        ({"enum": ["a", "b"]}, {"const": "a"}, 'enum narrowed: ["b"] no longer accepted'),
        ({"type": "string"}, {"type": "string", "pattern": "^[0-9]+$"}, "pattern ^[0-9]+$ added"),
        ({"type": "string"}, {"type": "string", "minLength": 3}, "minLength 3 added"),
        (
            {"type": "string", "maxLength": 20},
            {"type": "string", "maxLength": 16},
            "maxLength changed from 20 to 16",
        ),
        ({"type": "array"}, {"type": "array", "maxItems": 5}, "maxItems 5 added"),
        ({"type": "number"}, {"type": "number", "minimum": 0}, "lower bound >= 0 added"),
        (
            {"type": "number", "minimum": 0},
            {"type": "number", "exclusiveMinimum": 0},
            'lower bound changed from ">= 0" to "> 0"',
        ),
        (
            {"type": "number", "maximum": 100},
            {"type": "number", "maximum": 99},
            'upper bound changed from "<= 100" to "<= 99"',
        ),
        ({"type": "number"}, {"type": "number", "multipleOf": 2}, "multipleOf 2 added"),
        ({"type": "string"}, {"type": "string", "format": "date"}, "format date added"),
        (
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "string", "maxLength": 3}},
            None,
        ),
    ],
)
def test_narrowed_request_field(
    before: dict[str, Any], after: dict[str, Any], message: str | None
) -> None:
    old = descriptor_with(request=object_with(value=before))
    new = descriptor_with("1.1.0", request=object_with(value=after))
    reasons = breaking_changes(old, new)
    if message is None:
        assert reasons == ["operation op: request field value[] maxLength 3 added"]
    else:
        assert reasons == [f"operation op: request field value {message}"]


def test_additional_properties_closed_on_request(old: ServiceDescriptor) -> None:
    base = descriptor_with(request={"type": "object", "properties": {"nik": {"type": "string"}}})
    closed = {
        "type": "object",
        "properties": {"nik": {"type": "string"}},
        "additionalProperties": False,
    }
    assert breaking_changes(base, descriptor_with("1.1.0", request=closed)) == [
        "operation op: request body no longer accepts additional fields (additionalProperties)"
    ]


def test_request_field_removed_from_a_closed_schema(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"]["extra"] = {"type": "string"}

    older = evolve(old, "1.0.0", request=edit)
    assert breaking_changes(older, old) == [f"{OP}: request field extra no longer accepted"]


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            {"type": "string"},
            {"type": ["string", "null"]},
            "type widened from string to null|string",
        ),
        ({"type": "integer"}, {"type": "number"}, "type widened from integer to number"),
        ({"enum": ["a"]}, {"enum": ["a", "b"]}, 'enum widened: ["b"] may now be returned'),
        ({"type": "string", "maxLength": 3}, {"type": "string"}, "maxLength 3 removed"),
    ],
)
def test_widened_response_field(
    before: dict[str, Any], after: dict[str, Any], message: str
) -> None:
    old = descriptor_with(response=object_with(value=before))
    new = descriptor_with("1.1.0", response=object_with(value=after))
    assert breaking_changes(old, new) == [f"operation op: response field value {message}"]


def test_changed_map_values_in_a_response() -> None:
    old = descriptor_with(response={"type": "object", "additionalProperties": {"type": "string"}})
    new = descriptor_with(
        "1.1.0", response={"type": "object", "additionalProperties": {"type": "integer"}}
    )
    assert breaking_changes(old, new) == [
        "operation op: response field * type widened from string to integer"
    ]


# --- $ref and combinators -----------------------------------------------------------


def with_defs(nik: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "$defs": {"nik": nik},
        "properties": {"nik": {"$ref": "#/$defs/nik"}},
    }


def test_local_refs_are_followed() -> None:
    old = descriptor_with(request=with_defs({"type": "string"}))
    same = descriptor_with("1.0.1", request=with_defs({"type": "string", "description": "NIK"}))
    assert breaking_changes(old, same) == []
    narrower = descriptor_with("1.1.0", request=with_defs({"type": "string", "maxLength": 16}))
    assert breaking_changes(old, narrower) == ["operation op: request field nik maxLength 16 added"]


def test_ref_replaced_by_an_equivalent_inline_schema() -> None:
    old = descriptor_with(request=with_defs({"type": "string"}))
    inline = descriptor_with("1.1.0", request=object_with(nik={"type": "string"}))
    assert breaking_changes(old, inline) == []


def test_recursive_schema_terminates_and_reports() -> None:
    def tree(leaf: dict[str, Any]) -> dict[str, Any]:
        return {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {
                        "value": leaf,
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    },
                }
            },
            "$ref": "#/$defs/node",
        }

    old = descriptor_with(request=tree({"type": "string"}))
    assert breaking_changes(old, descriptor_with("1.0.1", request=tree({"type": "string"}))) == []
    new = descriptor_with("1.1.0", request=tree({"type": "string", "minLength": 1}))
    assert breaking_changes(old, new) == ["operation op: request field value minLength 1 added"]


def test_changed_one_of_cannot_be_verified() -> None:
    old = descriptor_with(request={"oneOf": [{"type": "string"}, {"type": "integer"}]})
    new = descriptor_with("1.1.0", request={"oneOf": [{"type": "string"}, {"type": "number"}]})
    assert breaking_changes(old, new) == [
        "operation op: cannot verify compatibility of request body: oneOf changed"
    ]


def test_unchanged_one_of_is_accepted() -> None:
    schema = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    old = descriptor_with(request=schema)
    assert breaking_changes(old, descriptor_with("1.1.0", request=copy.deepcopy(schema))) == []


def test_changed_pattern_cannot_be_verified() -> None:
    old = descriptor_with(request=object_with(nik={"type": "string", "pattern": "^[0-9]{16}$"}))
    new = descriptor_with(
        "1.1.0", request=object_with(nik={"type": "string", "pattern": "^[0-9]+$"})
    )
    (reason,) = breaking_changes(old, new)
    assert reason.startswith(
        "operation op: cannot verify compatibility of request field nik: pattern"
    )


def test_changed_external_ref_cannot_be_verified() -> None:
    old = descriptor_with(request={"$ref": "https://example.org/a.json"})
    new = descriptor_with("1.1.0", request={"$ref": "https://example.org/b.json"})
    (reason,) = breaking_changes(old, new)
    assert reason.startswith("operation op: cannot verify compatibility of request body")


def test_any_of_nullable_widening_is_accepted_on_requests() -> None:
    old = descriptor_with(request=object_with(name={"type": "string"}))
    new = descriptor_with(
        "1.1.0", request=object_with(name={"anyOf": [{"type": "string"}, {"type": "null"}]})
    )
    assert breaking_changes(old, new) == []
    assert breaking_changes(
        descriptor_with(response=object_with(name={"type": "string"})),
        descriptor_with(
            "1.1.0", response=object_with(name={"anyOf": [{"type": "string"}, {"type": "null"}]})
        ),
    ) == ["operation op: response field name type widened from string to null"]


def test_any_of_alternative_added_to_a_response() -> None:
    two = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    three = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]}
    old = descriptor_with(response=object_with(id=two))
    new = descriptor_with("1.1.0", response=object_with(id=three))
    assert breaking_changes(old, new) == [
        "operation op: response field id new alternative 3 was not a promised response"
    ]
    assert breaking_changes(new, descriptor_with("1.2.0", response=object_with(id=two))) == []


def test_any_of_alternative_dropped_from_a_request() -> None:
    old = descriptor_with(
        request=object_with(id={"anyOf": [{"type": "string"}, {"type": "integer"}]})
    )
    new = descriptor_with("1.1.0", request=object_with(id={"anyOf": [{"type": "string"}]}))
    assert breaking_changes(old, new) == [
        "operation op: request field id type narrowed from integer to string"
    ]


# --- compatible changes -------------------------------------------------------------


def test_optional_request_field_added(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"]["purpose"] = {"type": "string", "maxLength": 200}

    assert breaking_changes(old, evolve(old, request=edit)) == []


def test_response_field_added(old: ServiceDescriptor) -> None:
    def edit(schema: dict[str, Any]) -> None:
        schema["properties"]["rt"] = {"type": "string"}
        schema["required"].append("rt")

    assert breaking_changes(old, evolve(old, response=edit)) == []


def test_new_operation_and_description_edits(old: ServiceDescriptor) -> None:
    operations = old.model_dump()["operations"]
    operations["get-by-nik"]["description"] = "Another description."
    operations["get-by-nik"]["request"]["properties"]["nik"]["description"] = "NIK, 16 digits"
    operations["get-by-kk"] = {"request": {"type": "object"}, "response": {"type": "object"}}
    new = evolve(old, operations=operations, title="Register", description="New text.")
    assert breaking_changes(old, new) == []


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"type": "string"}, {"type": ["string", "null"]}),
        ({"type": "integer"}, {"type": "number"}),
        ({"enum": ["a"]}, {"enum": ["a", "b"]}),
        ({"type": "string", "maxLength": 3}, {"type": "string", "maxLength": 10}),
        ({"type": "string", "pattern": "^a$"}, {"type": "string"}),
        ({"type": "number", "exclusiveMinimum": 0}, {"type": "number", "minimum": 0}),
        ({"type": "number", "multipleOf": 4}, {"type": "number", "multipleOf": 2}),
        ({"type": "string", "format": "date"}, {"type": "string"}),
    ],
)
def test_widened_request_field_is_compatible(before: dict[str, Any], after: dict[str, Any]) -> None:
    old = descriptor_with(request=object_with(value=before))
    assert breaking_changes(old, descriptor_with("1.1.0", request=object_with(value=after))) == []


def test_narrowed_response_field_is_compatible() -> None:
    old = descriptor_with(response=object_with(value={"type": ["string", "null"]}))
    new = descriptor_with("1.1.0", response=object_with(value={"type": "string", "maxLength": 9}))
    assert breaking_changes(old, new) == []


# --- version bumps ------------------------------------------------------------------


def test_version_must_grow(old: ServiceDescriptor) -> None:
    assert check_version_bump(old, evolve(old, "1.0.0")) == [
        "version 1.0.0 is not greater than 1.0.0"
    ]
    newer = evolve(old, "1.10.0")
    assert check_version_bump(newer, evolve(old, "1.9.0")) == [
        "version 1.9.0 is not greater than 1.10.0"
    ]


def test_minor_and_patch_must_be_compatible_but_major_may_break(old: ServiceDescriptor) -> None:
    other = {"request": {"type": "object"}, "response": {"type": "object"}}
    for version in ("1.0.1", "1.1.0"):
        breaking = evolve(old, version, operations={"other": other})
        assert check_version_bump(old, breaking) == [f"{OP} removed"]
    assert check_version_bump(old, evolve(old, "2.0.0", operations={"other": other})) == []
    assert check_version_bump(old, evolve(old, "1.2.0")) == []


def test_version_bump_of_another_service_is_a_bug(old: ServiceDescriptor) -> None:
    with pytest.raises(ValueError, match="is not a version of"):
        check_version_bump(old, evolve(old, service="kk"))


# --- helpers ------------------------------------------------------------------------


def object_with(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def descriptor_with(
    version: str = "1.0.0",
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> ServiceDescriptor:
    return parse_descriptor(
        {
            "publisher": "dukcapil",
            "service": "penduduk",
            "version": version,
            "theme": "kependudukan",
            "title": "Population register",
            "operations": {
                "op": {
                    "request": {"type": "object"} if request is None else request,
                    "response": {"type": "object"} if response is None else response,
                }
            },
        }
    )


# --- properties ---------------------------------------------------------------------

leaf = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["string", "integer", "number", ["string", "null"], "object"]),
        "enum": st.lists(st.sampled_from(["a", "b", 1, None]), min_size=1, max_size=3, unique=True),
        "maxLength": st.integers(0, 5),
        "minimum": st.integers(-2, 2),
        "exclusiveMaximum": st.integers(-2, 2),
        "multipleOf": st.sampled_from([1, 2, 0.5]),
        "pattern": st.sampled_from(["^a", "^b"]),
        "additionalProperties": st.booleans(),
    },
)
schemas = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(
            lambda props, req, extra: (
                {"type": "object", "properties": props, "required": req} | extra
            ),
            st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
            st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=2),
            st.sampled_from([{}, {"additionalProperties": False}]),
        ),
        st.builds(lambda items: {"type": "array", "items": items}, inner),
        st.builds(lambda alts: {"anyOf": alts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda alts: {"oneOf": alts}, st.lists(inner, min_size=1, max_size=2)),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=schemas, response=schemas, other=schemas)
def test_check_is_total_and_reflexive(
    request: dict[str, Any], response: dict[str, Any], other: dict[str, Any]
) -> None:
    """Any valid schema is compatible with itself; any pair gives reasons, never an error."""
    old = descriptor_with(request=request, response=response)
    assert breaking_changes(old, descriptor_with("1.0.1", request=request, response=response)) == []
    reasons = breaking_changes(old, descriptor_with("1.0.1", request=other, response=other))
    assert all(
        isinstance(reason, str) and reason.startswith("operation op: ") for reason in reasons
    )


def nested_any_of(depth: int, shift: int) -> dict[str, Any]:
    """Four alternatives at each of ``depth`` levels, each differing from the same schema
    with another ``shift`` in a bound, so that every trial goes all the way down."""
    if depth == 0:
        return {"type": "string"}
    return {
        "anyOf": [
            {
                "type": "object",
                "minProperties": i + shift,
                "properties": {"a": nested_any_of(depth - 1, shift)},
            }
            for i in range(4)
        ]
    }


def test_nested_any_of_is_compared_within_a_bound() -> None:
    """Unbounded, this pair took 46 s (each level multiplies the trials by 16)."""
    old = descriptor_with(request=nested_any_of(5, 0))
    new = descriptor_with("1.1.0", request=nested_any_of(5, 1))
    started = time.perf_counter()
    (reason,) = breaking_changes(old, new)
    assert time.perf_counter() - started < 5
    assert reason.startswith("operation op: cannot verify compatibility of request body")
    assert "too complex" in reason
    # a shallow pair is still compared in full
    shallow = breaking_changes(
        descriptor_with(request=nested_any_of(2, 0)),
        descriptor_with("1.1.0", request=nested_any_of(2, 1)),
    )
    assert shallow[0] == "operation op: request body old alternative 1 is no longer accepted"
