"""OpenAPI and AsyncAPI exports: valid against the specifications, and saying what the bus does."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from splp.bus.descriptor import ServiceDescriptor, load_descriptor, parse_descriptor
from splp.directory_service.export import asyncapi_for, openapi_for

DEMO = Path(__file__).resolve().parent.parent / "splp" / "demo" / "penduduk.yaml"
# The official AsyncAPI 3.0.0 JSON Schema (Apache-2.0): `schemas/3.0.0-without-$id.json`
# of the npm package @asyncapi/specs. No PyPI package ships it.
# the official schema, vendored with its origin (tests/data/asyncapi/ORIGIN.md)
ASYNCAPI_SCHEMA = Path(__file__).resolve().parent / "data" / "asyncapi" / "asyncapi-3.0.0.json"
ASYNCAPI_SHA256 = "abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f"
PROBLEM_STATUSES = {"400", "403", "404", "408", "413", "429", "500", "502", "504"}
KEY = "dukcapil.penduduk.v1.get-by-nik"


@pytest.fixture
def penduduk() -> ServiceDescriptor:
    return load_descriptor(DEMO)


def kk_service(version: str = "1.0.0", theme: str = "kependudukan") -> ServiceDescriptor:
    """A second service whose request schema uses local ``$ref``."""
    nik = {"type": "string", "pattern": "^[0-9]{16}$"}
    request = {
        "type": "object",
        "$defs": {"nik": nik},
        "required": ["head"],
        "properties": {"head": {"$ref": "#/$defs/nik"}, "members": {
            "type": "array", "items": {"$ref": "#/$defs/nik"}}},
    }  # fmt: skip
    return parse_descriptor({
        "publisher": "dukcapil",
        "service": "kartu-keluarga",
        "version": version,
        "theme": theme,
        "title": "Family cards",
        "classification": "personal",
        "operations": {
            "get": {"request": request, "response": {"type": "object"}},
            "list-members": {"request": request, "response": {"type": "array"}},
        },
    })  # fmt: skip


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    """The target of a JSON Pointer reference, following references to references."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    if isinstance(node, dict) and set(node) == {"$ref"}:
        return resolve(document, node["$ref"])
    return node


def assert_refs_resolve(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert found
    for ref in found:
        resolve(document, ref)


# --- OpenAPI ------------------------------------------------------------------------


def test_openapi_is_valid_3_1(penduduk: ServiceDescriptor) -> None:
    document = openapi_for(penduduk)
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)
    validate_openapi(openapi_for(kk_service()))


def test_openapi_30_validates_and_keeps_the_gateway_shape(penduduk: ServiceDescriptor) -> None:
    for descriptor in (penduduk, kk_service()):
        document = openapi_for(descriptor, server="https://gw.example.go.id", version="3.0")
        assert document["openapi"] == "3.0.3"
        validate_openapi(document)
        assert list(document["paths"]) == list(openapi_for(descriptor)["paths"])


def test_openapi_validator_can_fail(penduduk: ServiceDescriptor) -> None:
    broken = openapi_for(penduduk)
    del broken["paths"]["/dukcapil/penduduk/v1/get-by-nik"]["post"]["responses"]["200"][
        "description"
    ]
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(broken)


def test_openapi_info_and_paths(penduduk: ServiceDescriptor) -> None:
    document = openapi_for(penduduk)
    info = document["info"]
    assert (info["title"], info["version"]) == ("Population register", "1.0.0")
    assert info["x-splp-classification"] == "personal"
    assert info["x-splp-theme"] == "kependudukan"
    assert penduduk.description in info["description"]
    assert "Pasal 25" in info["description"]
    assert list(document["paths"]) == ["/dukcapil/penduduk/v1/get-by-nik"]
    assert list(openapi_for(kk_service("3.2.1"))["paths"]) == [
        "/dukcapil/kartu-keluarga/v3/get",
        "/dukcapil/kartu-keluarga/v3/list-members",
    ]


def test_openapi_operation_schemas_and_problems(penduduk: ServiceDescriptor) -> None:
    document = openapi_for(penduduk)
    post = document["paths"]["/dukcapil/penduduk/v1/get-by-nik"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]
    assert resolve(document, request["$ref"]) == penduduk.operations["get-by-nik"].request
    response = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert resolve(document, response["$ref"]) == penduduk.operations["get-by-nik"].response
    assert set(post["responses"]) == {"200"} | PROBLEM_STATUSES
    for status in PROBLEM_STATUSES:
        problem = resolve(document, post["responses"][status]["$ref"])
        schema = problem["content"]["application/problem+json"]["schema"]
        assert resolve(document, schema["$ref"])["required"] == ["type", "title", "status"]
    examples = document["components"]["schemas"]["Problem"]["properties"]["type"]["examples"]
    assert "urn:splp:problem:too-many-requests" in examples
    assert post["x-splp-amqp"] == {
        "exchange": "splp.theme.kependudukan",
        "routingKey": KEY,
        "type": "get-by-nik",
        "replyTo": "amq.rabbitmq.reply-to",
    }
    assert_refs_resolve(document)


def test_openapi_rebases_local_refs() -> None:
    service = kk_service()
    document = openapi_for(service)
    assert_refs_resolve(document)
    schema = document["components"]["schemas"]["get.request"]
    assert schema["properties"]["head"] == {"$ref": "#/components/schemas/get.request/$defs/nik"}
    assert service.operations["get"].request["properties"]["head"] == {"$ref": "#/$defs/nik"}


# --- AsyncAPI -----------------------------------------------------------------------


def test_asyncapi_matches_the_official_schema(penduduk: ServiceDescriptor) -> None:
    assert hashlib.sha256(ASYNCAPI_SCHEMA.read_bytes()).hexdigest() == ASYNCAPI_SHA256
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    document = asyncapi_for("kependudukan", [penduduk, kk_service()])
    assert [error.message for error in validator.iter_errors(document)] == []
    broken = copy.deepcopy(document)
    broken["operations"][KEY]["action"] = "publish"  # an AsyncAPI 2 word
    assert not validator.is_valid(broken)


def test_asyncapi_structure(penduduk: ServiceDescriptor) -> None:
    document = asyncapi_for("kependudukan", [penduduk, kk_service()])
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["x-splp-services"] == {
        "dukcapil.kartu-keluarga.v1": "1.0.0",
        "dukcapil.penduduk.v1": "1.0.0",
    }
    (server,) = document["servers"].values()
    assert (server["protocol"], server["protocolVersion"]) == ("amqp", "0-9-1")
    keys = {KEY, "dukcapil.kartu-keluarga.v1.get", "dukcapil.kartu-keluarga.v1.list-members"}
    assert set(document["channels"]) == keys | {"replies"}
    for key in keys:
        channel = document["channels"][key]
        assert channel["address"] == key
        assert channel["bindings"]["amqp"]["is"] == "routingKey"
        assert channel["bindings"]["amqp"]["exchange"] == {
            "name": "splp.theme.kependudukan", "type": "topic", "durable": True,
            "autoDelete": False,
        }  # fmt: skip
    assert document["channels"]["replies"]["address"] == "amq.rabbitmq.reply-to"
    assert set(document["operations"]) == keys
    assert_refs_resolve(document)


def test_asyncapi_operation_sends_and_expects_a_reply(penduduk: ServiceDescriptor) -> None:
    document = asyncapi_for("kependudukan", [penduduk])
    operation = document["operations"][KEY]
    assert operation["action"] == "send"
    assert resolve(document, operation["channel"]["$ref"])["address"] == KEY
    (request,) = (resolve(document, message["$ref"]) for message in operation["messages"])
    assert request["payload"]["schema"] == penduduk.operations["get-by-nik"].request
    assert request["headers"]["required"] == ["splp-protocol", "splp-deadline"]
    assert request["bindings"]["amqp"]["messageType"] == "get-by-nik"
    reply = operation["reply"]
    assert resolve(document, reply["channel"]["$ref"])["address"] == "amq.rabbitmq.reply-to"
    response, problem = (resolve(document, message["$ref"]) for message in reply["messages"])
    assert response["payload"]["schema"] == penduduk.operations["get-by-nik"].response
    assert response["headers"]["properties"]["splp-status"] == {"const": 200}
    assert problem["contentType"] == "application/problem+json"
    assert 429 in problem["headers"]["properties"]["splp-status"]["enum"]
    assert problem["payload"]["schema"]["required"] == ["type", "title", "status"]


def test_asyncapi_payloads_validate_real_messages(penduduk: ServiceDescriptor) -> None:
    document = asyncapi_for("kependudukan", [penduduk])
    messages = document["components"]["messages"]
    request = messages[f"{KEY}.request"]["payload"]
    assert request["schemaFormat"] == "application/schema+json;version=draft-2020-12"
    validator = jsonschema.Draft202012Validator(request["schema"])
    assert validator.is_valid({"nik": "1508010101900001"})
    assert not validator.is_valid({"nik": "15"})


def test_asyncapi_describes_the_latest_version_of_each_major(penduduk: ServiceDescriptor) -> None:
    document = asyncapi_for(
        "kependudukan", [kk_service("1.2.0"), kk_service("1.10.0"), kk_service("2.0.0")]
    )
    assert document["info"]["x-splp-services"] == {
        "dukcapil.kartu-keluarga.v1": "1.10.0",
        "dukcapil.kartu-keluarga.v2": "2.0.0",
    }
    assert "dukcapil.kartu-keluarga.v2.get" in document["channels"]


def test_asyncapi_refuses_a_service_of_another_theme(penduduk: ServiceDescriptor) -> None:
    with pytest.raises(ValueError, match="belongs to theme kesehatan"):
        asyncapi_for("kependudukan", [penduduk, kk_service(theme="kesehatan")])


def test_asyncapi_of_an_empty_theme() -> None:
    document = asyncapi_for("kesehatan", [])
    assert set(document["channels"]) == {"replies"}
    assert document["operations"] == {}
