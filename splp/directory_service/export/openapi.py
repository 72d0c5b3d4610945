"""The OpenAPI 3.1 document of one service version: its HTTP gateway shape.

One ``POST /{publisher}/{service}/v{major}/{operation}`` per operation, the shape used for
national SPLP interoperability (Musi Banyuasin Pasal 25). Each operation carries an
``x-splp-amqp`` extension with the exchange and routing key of the same call on the bus.
"""

from __future__ import annotations

from typing import Any, Literal

from splp.bus.descriptor import ServiceDescriptor
from splp.bus.names import DIRECT_REPLY_TO, routing_key_for, theme_exchange
from splp.bus.wire import CONTENT_TYPE, PROBLEM_CONTENT_TYPE
from splp.directory_service.export.components import PROBLEMS, problem_schema, rebase

OPENAPI_VERSION = "3.1.0"
PLACEHOLDER_GATEWAY = "https://splp.example.go.id"


def openapi_for(
    descriptor: ServiceDescriptor,
    *,
    server: str | None = None,
    version: Literal["3.1", "3.0"] = "3.1",
    contact: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An OpenAPI document for one service version: the paths of the HTTP gateway
    (``splp gateway serve``) at ``server``, its OAuth2 client-credentials token URL and
    its API-key header as security schemes, and the publisher's ``contact``. Version
    ``3.0`` gives OpenAPI 3.0.3, for portals that import only that (the national SPLP's).

    >>> from splp.bus.descriptor import load_descriptor
    >>> document = openapi_for(load_descriptor("splp/demo/penduduk.yaml"))  # doctest: +SKIP
    >>> list(document["paths"])  # doctest: +SKIP
    ['/dukcapil/penduduk/v1/get-by-nik']
    """
    ref, schemas = descriptor.ref, {"Problem": problem_schema()}
    paths: dict[str, Any] = {}
    for name, operation in descriptor.operations.items():
        for part, schema in (("request", operation.request), ("response", operation.response)):
            schemas[f"{name}.{part}"] = rebase(schema, f"#/components/schemas/{name}.{part}")
        responses: dict[str, Any] = {
            "200": {
                "description": "The operation's response.",
                "content": {CONTENT_TYPE: {"schema": _component(f"{name}.response")}},
            }
        }
        for error in PROBLEMS:
            responses[str(error.default_status)] = {
                "$ref": f"#/components/responses/{error.__name__}"
            }
        paths[f"/{ref.publisher}/{ref.service}/v{ref.major}/{name}"] = {
            "post": {
                "operationId": name,
                "summary": operation.description or name,
                "requestBody": {
                    "required": True,
                    "content": {CONTENT_TYPE: {"schema": _component(f"{name}.request")}},
                },
                "responses": responses,
                "x-splp-amqp": {
                    "exchange": theme_exchange(descriptor.theme),
                    "routingKey": routing_key_for(ref, name),
                    "type": name,
                    "replyTo": DIRECT_REPLY_TO,
                },
            }
        }
    gateway = (server or PLACEHOLDER_GATEWAY).rstrip("/")
    info: dict[str, Any] = {
        "title": descriptor.title,
        "version": descriptor.version,
        "description": _service_text(descriptor),
        "x-splp-service": str(ref),
        "x-splp-classification": descriptor.classification,
        "x-splp-theme": descriptor.theme,
    }
    if contact:
        info["contact"] = contact
    servers: list[dict[str, Any]] = (
        [{"url": f"{gateway}/api", "description": "The regency's SPLP HTTP gateway."}]
        if server
        else [
            {
                "url": "{gateway}/api",
                "description": "An SPLP HTTP gateway (give its URL with --server).",
                "variables": {"gateway": {"default": gateway}},
            }
        ]
    )
    document = {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "servers": servers,
        "security": [{"clientCredentials": []}, {"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "clientCredentials": {
                    "type": "oauth2",
                    "description": "RFC 6749 client credentials: the client id and secret "
                    "from `splp client add`, as HTTP Basic or in the form body.",
                    "flows": {
                        "clientCredentials": {"tokenUrl": f"{gateway}/oauth2/token", "scopes": {}}
                    },
                },
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "apikey",
                    "description": "For legacy applications: the API key from "
                    "`splp client add --api-key`.",
                },
            },
            "schemas": schemas,
            "responses": {
                error.__name__: {
                    "description": f"{error.title} ({error.problem_type}).",
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": _component("Problem")}},
                }
                for error in PROBLEMS
            },
        },
    }
    if version == "3.0":
        from splp.directory_service.export.openapi30 import downgrade

        return downgrade(document)
    return document


def _service_text(descriptor: ServiceDescriptor) -> str:
    text = descriptor.description.strip()
    gateway = (
        f"HTTP gateway shape of SPLP service {descriptor.ref} (national SPLP interoperability, "
        f"Musi Banyuasin Pasal 25). On the bus, each operation is an AMQP request to exchange "
        f"{theme_exchange(descriptor.theme)}; see x-splp-amqp."
    )
    return f"{text}\n\n{gateway}" if text else gateway


def _component(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}
