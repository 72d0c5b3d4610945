"""Service descriptors: the metadata of one service version and its operations' JSON Schemas.

A descriptor is a YAML or JSON document that follows ``schemas/service-descriptor.schema.json``::

    publisher: dukcapil
    service: penduduk
    version: 1.0.0
    theme: kependudukan
    title: Population register
    classification: personal
    operations:
      get-by-nik:
        request: {type: object, required: [nik], properties: {nik: {type: string}}}
        response: {type: object}

Operation schemas are JSON Schema 2020-12; they are checked against the meta-schema when
the descriptor is loaded and compiled once for validation on the request path.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import jsonschema
import jsonschema_rs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from splp.bus.names import ServiceRef, check_segment
from splp.documents import read_document, validate_document
from splp.errors import ContractError

VERSION_PATTERN = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$"
"""``MAJOR.MINOR.PATCH`` in ASCII digits; ``schemas/service-descriptor.schema.json`` repeats it."""
SEMVER = re.compile(VERSION_PATTERN)
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MAX_SCHEMA_ERRORS = 10

Classification = Literal["public", "internal", "personal", "sensitive"]
PERSONAL_MARK = "x-splp-personal"
"""A JSON Schema keyword: ``x-splp-personal: true`` marks a property as personal data."""
PROTECTED: frozenset[str] = frozenset({"personal", "sensitive"})


def check_json_schema(schema: Any, where: str) -> dict[str, Any]:
    """Return ``schema`` if it is a valid JSON Schema 2020-12 object, else raise."""
    if not isinstance(schema, dict):
        raise ContractError(f"{where}: a schema must be an object")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ContractError(f"{where}: invalid JSON Schema: {exc.message}") from None
    return schema


class Operation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    request: dict[str, Any]
    response: dict[str, Any]


class DataManagement(BaseModel):
    """Master and reference data (Musi Banyuasin Pasal 51(2)): who stewards the data and
    where its truth lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steward: str = Field(min_length=1, max_length=200, description="The walidata.")
    kind: Literal["master", "reference", "transactional"] = Field(
        description="master data, reference data, or neither (transactional)."
    )
    update_frequency: str = Field(default="", max_length=100)
    source_of_truth: str = Field(default="", max_length=200)
    authoritative_for: tuple[str, ...] = Field(
        default=(),
        max_length=100,
        description="Fields this service is the one source for, e.g. [nik]: a second "
        "service claiming them gets a warning at publish.",
    )


class ServiceLevel(BaseModel):
    """What the publisher promises about the service (all optional); the directory probes
    the service and the reports measure it against ``availability_target`` and
    ``p95_target_ms``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact_name: str | None = Field(default=None, min_length=1, max_length=200)
    contact_email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    contact_phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+() .-]+$")
    operating_hours: str | None = Field(default=None, min_length=1, max_length=200)
    """Free text, e.g. ``Senin-Jumat 07:00-16:00 WIB``."""
    availability_target: float | None = Field(default=None, gt=0, le=100)
    """Percent of the time the service answers, e.g. ``99.5``."""
    p95_target_ms: float | None = Field(default=None, gt=0, le=3_600_000)

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class ServiceDescriptor(BaseModel):
    """One version of a service, as published in the directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    publisher: str
    service: str
    version: str = Field(description="semantic version MAJOR.MINOR.PATCH")
    theme: str
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    classification: Classification = "internal"
    subject_field: str | None = Field(
        default=None,
        max_length=63,
        description="The request field that identifies the data subject, e.g. nik: audit "
        "events carry a keyed HMAC of its value, never the value.",
    )
    data_management: DataManagement | None = None
    operations: dict[str, Operation] = Field(min_length=1)
    service_level: ServiceLevel | None = None

    @model_serializer(mode="wrap")
    def _without_service_level(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A descriptor without service levels is written back as it was written."""
        dumped: dict[str, Any] = handler(self)
        if dumped.get("service_level") is None:
            dumped.pop("service_level", None)
        return dumped

    @field_validator("publisher", "service", "theme")
    @classmethod
    def _segment(cls, value: str, info: Any) -> str:
        return check_segment(value, info.field_name)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.fullmatch(value):
            raise ValueError(f"version {value!r} is not MAJOR.MINOR.PATCH")
        return value

    @field_validator("operations")
    @classmethod
    def _operations(cls, value: dict[str, Operation]) -> dict[str, Operation]:
        for name, op in value.items():
            check_segment(name, "operation")
            check_json_schema(op.request, f"operation {name} request")
            check_json_schema(op.response, f"operation {name} response")
        return value

    @model_validator(mode="after")
    def _personal_data_is_classified(self) -> ServiceDescriptor:
        marked = sorted({f for op in self.operations for f in self.personal_fields(op)})
        if marked and self.classification not in PROTECTED:
            raise ValueError(
                f"fields {', '.join(marked)} are marked {PERSONAL_MARK}: the service must be "
                f"classified personal or sensitive, not {self.classification}"
            )
        return self

    def response_fields(self, operation: str) -> frozenset[str]:
        """The top-level property names of ``operation``'s response schema (of its items'
        schema, for a list of objects)."""
        properties = _object_schema(self.operations[operation].response).get("properties")
        return frozenset(properties) if isinstance(properties, dict) else frozenset()

    def answers_objects(self, operation: str) -> bool:
        """Whether ``operation``'s response schema is an object (``type: object``) or a list
        of objects (``type: array`` with ``items`` of ``type: object``): the shapes a grant's
        field list can be applied to (:mod:`splp.adapters.minimise`).

        >>> d = parse_descriptor({"publisher": "a", "service": "b", "version": "1.0.0",
        ...     "theme": "t", "title": "T", "operations": {
        ...     "one": {"request": {}, "response": {"type": "object"}},
        ...     "many": {"request": {}, "response": {"type": "array",
        ...         "items": {"type": "object", "properties": {"name": {}}}}},
        ...     "names": {"request": {}, "response": {"type": "array",
        ...         "items": {"type": "string"}}},
        ...     "any": {"request": {}, "response": {}}}})
        >>> [op for op in d.operations if d.answers_objects(op)], d.response_fields("many")
        (['one', 'many'], frozenset({'name'}))
        """
        schema = self.operations[operation].response
        return _object_schema(schema).get("type") == "object"

    def personal_fields(self, operation: str) -> list[str]:
        """The response properties marked ``x-splp-personal: true``.

        >>> d = parse_descriptor({"publisher": "a", "service": "b", "version": "1.0.0",
        ...     "theme": "t", "title": "T", "classification": "personal", "operations": {"get": {
        ...     "request": {}, "response": {"properties": {
        ...         "name": {"x-splp-personal": True}, "village": {}}}}}})
        >>> d.personal_fields("get")
        ['name']
        """
        properties = self.operations[operation].response.get("properties")
        if not isinstance(properties, dict):
            return []
        return sorted(
            name
            for name, schema in properties.items()
            if isinstance(schema, dict) and schema.get(PERSONAL_MARK) is True
        )

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef(self.publisher, self.service, self.major)

    @cached_property
    def validators(self) -> dict[str, tuple[jsonschema_rs.Validator, jsonschema_rs.Validator]]:
        """Compiled (request, response) validators per operation."""
        return {
            name: (_compile(op.request), _compile(op.response))
            for name, op in self.operations.items()
        }


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of the objects of a response: its own, or its items' for a list."""
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, dict):
        return items
    return schema


def _compile(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(schema)


def schema_errors(validator: jsonschema_rs.Validator, instance: Any) -> list[dict[str, str]]:
    """Up to ten errors as ``{"pointer": "/a/0", "message": ...}``; empty when valid.

    ``pointer`` is an RFC 6901 JSON Pointer into the request (``""`` for the whole body);
    for a missing required member it points where the member should be. ``message`` is
    built from the schema alone and never repeats a value of the request:

    >>> check = jsonschema_rs.validator_for({"type": "object", "required": ["nik"],
    ...     "properties": {"nik": {"type": "string", "pattern": "^[0-9]{16}$"}}})
    >>> schema_errors(check, {"nik": "1508-NIK"})
    [{'pointer': '/nik', 'message': 'must match the pattern ^[0-9]{16}$'}]
    >>> schema_errors(check, {})
    [{'pointer': '/nik', 'message': 'is required'}]
    """
    if validator.is_valid(instance):
        return []
    errors = []
    for error in validator.iter_errors(instance):
        path = [str(part) for part in error.instance_path]
        details = error.kind.as_dict()
        if error.kind.name == "required":
            path.append(str(details["property"]))
        pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)
        errors.append({"pointer": pointer, "message": _requirement(error.kind.name, details)})
        if len(errors) >= MAX_SCHEMA_ERRORS:
            break
    return errors


# What each keyword requires, from the schema's own words; anything taken from the
# instance (jsonschema_rs's messages quote the failing value) stays out.
_REQUIREMENTS = {
    "required": "is required",
    "type": "must be of type {types}",
    "pattern": "must match the pattern {pattern}",
    "format": "must be a valid {format}",
    "minLength": "must have at least {limit} characters",
    "maxLength": "must have at most {limit} characters",
    "minimum": "must be at least {limit}",
    "maximum": "must be at most {limit}",
    "exclusiveMinimum": "must be greater than {limit}",
    "exclusiveMaximum": "must be less than {limit}",
    "multipleOf": "must be a multiple of {multiple_of}",
    "minItems": "must have at least {limit} items",
    "maxItems": "must have at most {limit} items",
    "uniqueItems": "must not repeat an item",
    "minProperties": "must have at least {limit} members",
    "maxProperties": "must have at most {limit} members",
    "enum": "must be one of the values the schema lists",
    "const": "must be the value the schema fixes",
    "additionalProperties": "has members the schema does not allow",
    "unevaluatedProperties": "has members the schema does not allow",
    "propertyNames": "has a member name the schema does not allow",
}


def _requirement(keyword: str, details: dict[str, Any]) -> str:
    if "types" in details:
        details = {**details, "types": " or ".join(str(t) for t in details["types"])}
    try:
        return _REQUIREMENTS[keyword].format(**details)
    except (KeyError, IndexError):
        return f"fails the schema's {keyword!r} rule"


def parse_descriptor(data: Any, where: str = "descriptor") -> ServiceDescriptor:
    """Validate a decoded descriptor document."""
    return validate_document(ServiceDescriptor, data, where)


def load_descriptor(path: str | Path) -> ServiceDescriptor:
    """Read a descriptor from a YAML or JSON file."""
    return parse_descriptor(read_document(path), str(path))
