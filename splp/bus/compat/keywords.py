"""The JSON Schema keywords, grouped by how the compatibility check treats them."""

from __future__ import annotations

# fmt: off
ANNOTATIONS = frozenset({
    "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
    "$comment", "$schema", "$id", "$anchor", "$dynamicAnchor", "$vocabulary", "$defs",
    "definitions", "contentMediaType", "contentEncoding", "contentSchema",
})
"""Keywords that say nothing about which instances are valid."""
OPAQUE = (
    "allOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependentRequired",
    "patternProperties", "propertyNames", "unevaluatedProperties", "unevaluatedItems",
    "prefixItems", "contains", "minContains", "maxContains", "$dynamicRef", "$recursiveRef",
)
"""Keywords the check cannot reason about: any change to them is unverifiable."""
SCHEMA_VALUED = frozenset({
    "items", "additionalProperties", "not", "if", "then", "else", "contains",
    "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contentSchema",
})
# fmt: on
SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
LOWER_BOUNDS = ("minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties")
