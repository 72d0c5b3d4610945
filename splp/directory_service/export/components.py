"""What the OpenAPI and the AsyncAPI export share: the problem replies and embedded schemas.

Operation schemas are JSON Schema 2020-12. They are embedded as components; their local
``$ref`` (``#/...``) are rebased onto the component so they resolve in the exported document.
"""

from __future__ import annotations

import copy
from typing import Any

from splp.errors import (
    BadRequest,
    DeadlineExpired,
    Forbidden,
    InternalError,
    NotFound,
    PayloadTooLarge,
    RemoteError,
    SchemaViolation,
    TooManyRequests,
    UpstreamAuth,
    UpstreamError,
    UpstreamTimeout,
)

PROBLEMS: tuple[type[RemoteError], ...] = (
    BadRequest, Forbidden, NotFound, DeadlineExpired, PayloadTooLarge, TooManyRequests,
    InternalError, UpstreamError, UpstreamTimeout,
)  # fmt: skip
"""The problems a call may end in, one per status."""


def problem_schema() -> dict[str, Any]:
    """The RFC 9457 problem body of every reply or response with a status of 400 or more."""
    known: tuple[type[RemoteError], ...] = (*PROBLEMS, SchemaViolation, UpstreamAuth)
    types = [error.problem_type for error in known]
    return {
        "type": "object",
        "description": "RFC 9457 problem details; SPLP types are urn:splp:problem:*.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference", "examples": sorted(types)},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string", "format": "uri-reference"},
            "errors": {
                "description": "Where the request failed its schema (schema-violation).",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pointer", "message"],
                    "properties": {"pointer": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "retry_after": {"description": "Seconds to wait (429).", "type": "number"},
        },
    }


def rebase(schema: dict[str, Any], base: str) -> dict[str, Any]:
    """A copy of ``schema`` whose JSON Pointer ``$ref`` (``#/...``) point below ``base``.

    A schema with its own ``$id`` is a resource of its own, where ``#/...`` already resolves.

    >>> rebase({"items": {"$ref": "#/$defs/nik"}}, "#/components/schemas/get.request")
    {'items': {'$ref': '#/components/schemas/get.request/$defs/nik'}}
    """
    if "$id" in schema:
        return copy.deepcopy(schema)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: base + value[1:]
                if key == "$ref" and isinstance(value, str) and value.startswith("#/")
                else (base if key == "$ref" and value == "#" else walk(value))
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        return copy.deepcopy(node)

    result: dict[str, Any] = walk(schema)
    return result
