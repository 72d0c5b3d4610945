"""The AsyncAPI 3.0 document of one theme: the bus contract that requesters follow.

A channel per routing key on the theme's topic exchange, the operations' schemas as
message payloads, and the reply on RabbitMQ direct reply-to.
"""

from __future__ import annotations

from typing import Any

from splp.bus.compat import version_key
from splp.bus.descriptor import ServiceDescriptor
from splp.bus.names import DIRECT_REPLY_TO, routing_key_for, theme_exchange
from splp.bus.wire import (
    CONTENT_TYPE,
    HEADER_DEADLINE,
    HEADER_PROTOCOL,
    HEADER_STATUS,
    HEADER_TRACEPARENT,
    PROBLEM_CONTENT_TYPE,
    PROTOCOL_VERSION,
)
from splp.directory_service.export.components import PROBLEMS, problem_schema, rebase

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"


def asyncapi_for(theme: str, descriptors: list[ServiceDescriptor]) -> dict[str, Any]:
    """An AsyncAPI 3.0.0 document for the bus contract of one theme.

    Every descriptor must belong to ``theme`` (``ValueError`` otherwise); of several versions
    of one major, the latest is described, since they share their routing keys.

    >>> from splp.bus.descriptor import load_descriptor
    >>> penduduk = load_descriptor("splp/demo/penduduk.yaml")  # doctest: +SKIP
    >>> list(asyncapi_for("kependudukan", [penduduk])["channels"])  # doctest: +SKIP
    ['dukcapil.penduduk.v1.get-by-nik', 'replies']
    """
    exchange = theme_exchange(theme)
    latest: dict[str, ServiceDescriptor] = {}
    for descriptor in descriptors:
        if descriptor.theme != theme:
            raise ValueError(f"{descriptor.ref} belongs to theme {descriptor.theme}, not {theme}")
        known = latest.get(str(descriptor.ref))
        if known is None or version_key(descriptor.version) > version_key(known.version):
            latest[str(descriptor.ref)] = descriptor
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    replies: dict[str, Any] = {"problem": {"$ref": "#/components/messages/problem"}}
    messages: dict[str, Any] = {"problem": _problem_message()}
    for key in sorted(latest):
        descriptor = latest[key]
        for name, operation in descriptor.operations.items():
            address = routing_key_for(descriptor.ref, name)
            for part, schema in (("request", operation.request), ("response", operation.response)):
                where = f"#/components/messages/{address}.{part}/payload/schema"
                messages[f"{address}.{part}"] = _message(
                    address, part, rebase(schema, where), descriptor, name
                )
            channels[address] = {
                "address": address,
                "title": f"{descriptor.title}: {name}",
                "messages": {"request": {"$ref": f"#/components/messages/{address}.request"}},
                "bindings": {"amqp": {
                    "is": "routingKey",
                    "exchange": {"name": exchange, "type": "topic", "durable": True,
                                 "autoDelete": False},
                    "bindingVersion": AMQP_BINDING_VERSION,
                }},
            }  # fmt: skip
            replies[f"{address}.response"] = {"$ref": f"#/components/messages/{address}.response"}
            operations[address] = {
                "action": "send",
                "title": name,
                "summary": operation.description or name,
                "channel": {"$ref": f"#/channels/{address}"},
                "messages": [{"$ref": f"#/channels/{address}/messages/request"}],
                "tags": [{"name": key}],
                "bindings": {"amqp": {"mandatory": True, "deliveryMode": 1, "timestamp": True,
                                      "bindingVersion": AMQP_BINDING_VERSION}},
                "reply": {
                    "channel": {"$ref": "#/channels/replies"},
                    "messages": [
                        {"$ref": f"#/channels/replies/messages/{address}.response"},
                        {"$ref": "#/channels/replies/messages/problem"},
                    ],
                },
            }  # fmt: skip
    channels["replies"] = {
        "address": DIRECT_REPLY_TO,
        "title": "Replies (RabbitMQ direct reply-to)",
        "description": "Each reply goes to the caller's reply_to through the default exchange, "
        "with the request's correlation_id.",
        "messages": replies,
        "bindings": {"amqp": {
            "is": "queue",
            "queue": {"name": DIRECT_REPLY_TO, "durable": False, "exclusive": True,
                      "autoDelete": True},
            "bindingVersion": AMQP_BINDING_VERSION,
        }},
    }  # fmt: skip
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"SPLP theme {theme}",
            "version": str(PROTOCOL_VERSION),
            "description": f"The bus contract of theme {theme}: requests are published to "
            f"exchange {exchange} (topic, durable) with routing key "
            "<publisher>.<service>.v<major>.<operation>; info.version is the SPLP protocol.",
            "x-splp-theme": theme,
            "x-splp-services": {key: latest[key].version for key in sorted(latest)},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "splp": {
                "host": "{host}",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "pathname": "/{vhost}",
                "description": "The SPLP RabbitMQ broker; requesters authenticate as their "
                "own broker user, which the broker stamps as user_id.",
                "variables": {
                    "host": {"default": "localhost:5672", "description": "broker host:port"},
                    "vhost": {"default": "splp", "description": "the SPLP virtual host"},
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _headers(part: str) -> dict[str, Any]:
    """The AMQP headers of a request or a reply (the other envelope fields are properties)."""
    if part == "request":
        properties: dict[str, Any] = {
            HEADER_PROTOCOL: {"const": PROTOCOL_VERSION, "description": "SPLP protocol"},
            HEADER_DEADLINE: {"type": "integer", "minimum": 0,
                              "description": "absolute deadline, epoch milliseconds"},
            HEADER_TRACEPARENT: {"type": "string", "description": "W3C trace context"},
        }  # fmt: skip
        return {
            "type": "object",
            "required": [HEADER_PROTOCOL, HEADER_DEADLINE],
            "properties": properties,
        }
    statuses = [200, *(error.default_status for error in PROBLEMS)]
    status = {"type": "integer", "enum": statuses, "description": "HTTP semantics"}
    return {"type": "object", "required": [HEADER_STATUS], "properties": {HEADER_STATUS: status}}


def _message(
    address: str, part: str, schema: dict[str, Any], descriptor: ServiceDescriptor, name: str
) -> dict[str, Any]:
    headers = _headers(part)
    if part == "response":
        headers["properties"][HEADER_STATUS] = {"const": 200}
    return {
        "name": f"{address}.{part}",
        "title": f"{name} {part}",
        "summary": f"The {part} of {descriptor.ref} {name} ({descriptor.classification} data).",
        "contentType": CONTENT_TYPE,
        "headers": headers,
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": schema},
        "bindings": {"amqp": {"messageType": name, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _problem_message() -> dict[str, Any]:
    return {
        "name": "problem",
        "title": "Problem reply",
        "summary": f"A reply whose {HEADER_STATUS} is 400 or more.",
        "contentType": PROBLEM_CONTENT_TYPE,
        "headers": _headers("reply"),
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": problem_schema()},
    }
