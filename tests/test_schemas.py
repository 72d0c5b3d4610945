"""The JSON Schemas in ``schemas/`` against the values the code really produces.

Each schema must be a valid draft 2020-12 schema, accept what the SDK and the adapter put
on the wire (request and reply properties, problem bodies, audit events) and refuse what
the contract forbids. The adapter is driven through its consumer callback with a
recording channel, so the reply and the audit event checked here are the ones it emits.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from aiormq import spec
from aiormq.abc import DeliveredMessage
from pamqp.header import ContentHeader

from splp.adapters import Adapter, HttpAdapterConfig, Problem, Request
from splp.adapters.agency_client import AgencyClient
from splp.adapters.http import HttpOperationHandler
from splp.adapters.http_config import HttpOperation
from splp.bus.audit_events import audit_event, audit_routing_key
from splp.bus.descriptor import ServiceDescriptor, load_descriptor, parse_descriptor, schema_errors
from splp.bus.wire import reply_properties, request_properties
from splp.errors import (
    PROBLEM_BASE,
    ConfigurationError,
    RemoteError,
    SchemaViolation,
    TooManyRequests,
)
from splp.http_server import serve_app
from splp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
DEMO_DESCRIPTOR = ROOT / "splp" / "demo" / "penduduk.yaml"
SCHEMA_FILES = {
    "envelope": "urn:splp:schema:envelope:1",
    "problem": "urn:splp:schema:problem:1",
    "audit-event": "urn:splp:schema:audit-event:1",
    "service-descriptor": "urn:splp:schema:service-descriptor:1",
    "audit-bundle": "urn:splp:schema:audit-bundle:1",
}
NIK = "1508010101900001"


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return schema


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        load_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def errors_of(name: str, instance: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(instance)]


def branch(name: str, definition: str) -> jsonschema.Draft202012Validator:
    """A validator for ``#/$defs/<definition>`` of schema ``name``."""
    schema = load_schema(name)
    del schema["oneOf"]
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{definition}"})


_PROPERTIES = {
    "content_type": "content_type",
    "content_encoding": "content_encoding",
    "delivery_mode": "delivery_mode",
    "priority": "priority",
    "correlation_id": "correlation_id",
    "reply_to": "reply_to",
    "expiration": "expiration",
    "message_id": "message_id",
    "type": "message_type",
    "user_id": "user_id",
    "app_id": "app_id",
    "cluster_id": "cluster_id",
}


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def envelope_json(properties: spec.Basic.Properties) -> dict[str, Any]:
    """AMQP basic properties in the JSON form of ``envelope.schema.json`` (wire doc section 15)."""
    result = {
        name: getattr(properties, attribute)
        for name, attribute in _PROPERTIES.items()
        if getattr(properties, attribute) not in (None, "")  # pamqp does not send empty ones
    }
    if properties.timestamp is not None:
        result["timestamp"] = int(properties.timestamp.timestamp())
    if properties.headers:
        result["headers"] = _json_value(dict(properties.headers))
    return result


def fresh_request(**overrides: Any) -> spec.Basic.Properties:
    values: dict[str, Any] = {
        "message_id": uuid.uuid4().hex,
        "correlation_id": uuid.uuid4().hex,
        "reply_to": "amq.rabbitmq.reply-to",
        "user_id": "dinsos",
        "operation": "get-by-nik",
        "timeout": 5.0,
        "now": time.time(),
    }
    values.update(overrides)
    return request_properties(**values)


# --- the schemas themselves -------------------------------------------------------------


def test_the_schema_directory_holds_exactly_the_five_contracts() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(
        f"{name}.schema.json" for name in SCHEMA_FILES
    )


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_schema_is_valid_draft_2020_12_with_id_and_title(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_FILES[name]
    assert schema["title"] and schema["description"]


def test_the_wire_document_names_every_schema_and_problem_type() -> None:
    doc = (ROOT / "docs" / "wire-protocol.md").read_text(encoding="utf-8")
    for name, schema_id in SCHEMA_FILES.items():
        assert f"schemas/{name}.schema.json" in doc
        assert schema_id in doc
    for cls in _remote_errors():
        assert cls.problem_type in doc, cls


# --- envelope ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "traceparent", [None, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
)
def test_request_properties_of_the_sdk_are_a_valid_request_envelope(
    traceparent: str | None,
) -> None:
    envelope = envelope_json(fresh_request(traceparent=traceparent))
    assert errors_of("envelope", envelope) == []
    assert branch("envelope", "request").is_valid(envelope)
    assert not branch("envelope", "reply").is_valid(envelope)
    assert ("traceparent" in envelope["headers"]) is bool(traceparent)


def test_request_envelope_carries_the_documented_values() -> None:
    now = 1_746_088_200.5
    envelope = envelope_json(fresh_request(timeout=2.5, now=now))
    assert envelope["expiration"] == "2500"
    assert envelope["timestamp"] == 1_746_088_200
    assert envelope["headers"] == {"splp-protocol": 1, "splp-deadline": 1_746_088_203_000}
    assert envelope["type"] == "get-by-nik"
    assert envelope["content_type"] == "application/json"


@pytest.mark.parametrize("status", [200, 400, 403, 404, 408, 413, 429, 500, 502, 504])
def test_reply_properties_are_a_valid_reply_envelope(status: int) -> None:
    envelope = envelope_json(reply_properties(uuid.uuid4().hex, status))
    assert errors_of("envelope", envelope) == []
    assert branch("envelope", "reply").is_valid(envelope)
    assert envelope["headers"] == {"splp-protocol": 1, "splp-status": status}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda e: e.pop("user_id"), "no user_id"),
        (lambda e: e.pop("message_id"), "no message_id"),
        (lambda e: e.update(expiration=5000), "expiration is a number, not a string"),
        (lambda e: e.update(expiration="5s"), "expiration is not milliseconds"),
        (lambda e: e.update(content_type="text/plain"), "not JSON"),
        (lambda e: e.update(type="Get_By_NIK"), "operation is not a name segment"),
        (lambda e: e["headers"].update({"splp-protocol": 2}), "another protocol version"),
        (lambda e: e["headers"].update({"splp-deadline": "1746088205123"}), "deadline as a string"),
        (lambda e: e["headers"].pop("splp-deadline"), "no deadline"),
        (lambda e: e["headers"].update(traceparent="not-a-trace"), "malformed traceparent"),
        (lambda e: e.update(priority=9), "an AMQP property SPLP does not use"),
    ],
)
def test_request_envelope_rejects(change: Any, why: str) -> None:
    envelope = envelope_json(fresh_request())
    change(envelope)
    assert not branch("envelope", "request").is_valid(envelope), why
    assert not validator("envelope").is_valid(envelope), why


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda e: e.update(content_type="application/json"), "problem reply typed as plain JSON"),
        (lambda e: e["headers"].pop("splp-status"), "no status"),
        (lambda e: e["headers"].update({"splp-status": "404"}), "status as a string"),
        (lambda e: e["headers"].update({"splp-status": 99}), "status out of range"),
        (lambda e: e.pop("correlation_id"), "no correlation id"),
        (lambda e: e.update(reply_to="amq.rabbitmq.reply-to"), "a reply has no reply_to"),
    ],
)
def test_reply_envelope_rejects(change: Any, why: str) -> None:
    envelope = envelope_json(reply_properties(uuid.uuid4().hex, 404))
    change(envelope)
    assert not validator("envelope").is_valid(envelope), why


# --- problems ---------------------------------------------------------------------------


def _remote_errors() -> list[type[RemoteError]]:
    found: list[type[RemoteError]] = []
    todo = list(RemoteError.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.problem_type)


def test_problem_schema_lists_exactly_the_problem_types_of_the_code() -> None:
    listed = load_schema("problem")["allOf"][0]["then"]["properties"]["type"]["enum"]
    types = {cls.problem_type for cls in _remote_errors()}
    assert all(t.startswith(PROBLEM_BASE) for t in types)
    assert sorted(listed) == sorted(types)


@pytest.mark.parametrize("error", _remote_errors(), ids=lambda c: c.__name__)
def test_every_problem_type_built_by_the_code_validates(error: type[RemoteError]) -> None:
    extra: dict[str, Any] = {}
    if error is SchemaViolation:
        extra["errors"] = [{"pointer": "/nik", "message": "'12' is too short"}]
    if error is TooManyRequests:
        extra["retry_after"] = 3
    body = Problem.of(error, "something went wrong", **extra).body
    assert errors_of("problem", body) == []
    assert body["status"] == error.default_status
    # and without a detail
    if error is not SchemaViolation:
        assert errors_of("problem", Problem.of(error).body) == []


@pytest.mark.parametrize(
    "problem",
    [Problem.bad_request("x"), Problem.not_found("no resident"), Problem.forbidden("no grant")],
    ids=["bad_request", "not_found", "forbidden"],
)
def test_problem_shortcuts_validate(problem: Problem) -> None:
    assert errors_of("problem", problem.body) == []


def test_schema_violation_errors_from_the_descriptor_validators_validate() -> None:
    descriptor = load_descriptor(DEMO_DESCRIPTOR)
    request_validator, _ = descriptor.validators["get-by-nik"]
    errors = schema_errors(request_validator, {"nik": "12", "extra": True})
    assert errors
    body = Problem.of(SchemaViolation, "does not match", errors=errors).body
    assert errors_of("problem", body) == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            {"type": "urn:splp:problem:not-found", "title": "Not found", "status": 200},
            "success status",
        ),
        (
            {"type": "urn:splp:problem:teapot", "title": "Teapot", "status": 418},
            "unknown SPLP type",
        ),
        (
            {
                "type": "urn:splp:problem:schema-violation",
                "title": "Schema violation",
                "status": 400,
            },
            "schema violation without errors",
        ),
        (
            {
                "type": "urn:splp:problem:schema-violation",
                "title": "Schema violation",
                "status": 400,
                "errors": [{"pointer": "nik", "message": "bad"}],
            },
            "pointer is not a JSON Pointer",
        ),
        ({"title": "Not found", "status": 404}, "no type"),
        (
            {
                "type": "urn:splp:problem:too-many-requests",
                "title": "Too many requests",
                "status": 429,
                "retry_after": -1,
            },
            "negative retry_after",
        ),
    ],
)
def test_problem_schema_rejects(body: dict[str, Any], why: str) -> None:
    assert not validator("problem").is_valid(body), why


def test_problem_schema_accepts_a_handlers_own_type() -> None:
    body = Problem(
        409, "https://dukcapil.example/problems/conflict", "Conflict", "already there"
    ).body
    assert errors_of("problem", body) == []


def test_schema_violation_pointer_escapes_member_names() -> None:
    validator_ = jsonschema_rs_validator({"properties": {"a/b~c": {"type": "string"}}})
    assert schema_errors(validator_, {"a/b~c": 1})[0]["pointer"] == "/a~1b~0c"


def test_schema_violation_pointer_of_the_whole_body_is_empty() -> None:
    assert schema_errors(jsonschema_rs_validator({"type": "object"}), [])[0]["pointer"] == ""


def jsonschema_rs_validator(schema: dict[str, Any]) -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(schema)


# --- problems built by the HTTP adapter ---------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "headers", "status"),
    [
        (400, {}, 400),
        (404, {"content-type": "application/problem+json"}, 404),
        (409, {}, 400),
        (413, {}, 413),
        (429, {"retry-after": "7"}, 429),
        (500, {}, 502),
        (504, {}, 504),
    ],
)
async def test_problems_of_the_http_adapter_validate(
    upstream: int, headers: dict[str, str], status: int
) -> None:
    keys: list[str] = []
    body = b'{"detail": "no resident"}' if "problem" in headers.get("content-type", "") else b"{}"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The agency: answers ``upstream`` with ``headers`` (a plain ASGI app)."""
        keys.extend(v.decode() for k, v in scope["headers"] if k == b"idempotency-key")
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": upstream, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async with serve_app(app) as url:
        config = HttpAdapterConfig(
            descriptor=DEMO_DESCRIPTOR,
            base_url=url,
            operations={"get-by-nik": HttpOperation(path="/residents/{nik}")},
        )
        client = AgencyClient(url, ca_file=None, connections=1, max_response_bytes=1 << 20)
        handler = HttpOperationHandler(
            "get-by-nik", config.operations["get-by-nik"], config, client
        )
        request = Request("m-1", "c-1", "amq.rabbitmq.reply-to.x", "dinsos", "get-by-nik", None)
        try:
            with pytest.raises(Problem) as caught:
                await handler({"nik": NIK}, request)
        finally:
            await client.aclose()
    assert keys == ["m-1"], caught.value.body
    assert caught.value.status == status
    assert errors_of("problem", caught.value.body) == []
    if status == 429:
        assert caught.value.body["retry_after"] == 7


# --- audit events -------------------------------------------------------------------------


META = {
    "theme": "kependudukan",
    "publisher": "dukcapil",
    "service": "penduduk",
    "major": 1,
    "requester": "dinsos",
    "message_id": uuid.uuid4().hex,
    "correlation_id": uuid.uuid4().hex,
    "request_bytes": 27,
}
ANSWER = {"operation": "get-by-nik", "status": 200, "duration_ms": 3.25, "response_bytes": 80}


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("response", {**META, **ANSWER}),
        ("response", {**META, **ANSWER, "operation": None, "status": 404}),
        (
            "response",
            {**META, **ANSWER, "requester": None, "message_id": None, "correlation_id": None},
        ),
        ("denied", {**META, **ANSWER, "status": 403}),
        # an injection that could not be answered (issue 20, point 10)
        (
            "denied",
            {**META, **ANSWER, "status": 403, "response_bytes": 0, "reason": "bad-reply-to"},
        ),
        ("throttled", {**META, **ANSWER, "status": 429}),
        ("dropped", {**META, "reason": "expired"}),
        ("dropped", {**META, "reason": "no-reply-to", "requester": None}),
        (
            "access.grant",
            {
                "actor": "dukcapil",
                "theme": "kependudukan",
                "publisher": "dukcapil",
                "service": "penduduk",
                "major": 1,
                "requester": "dinsos",
                "access_request": 12,
                "operations": ["get-by-nik"],
                "quota_per_minute": 60,
            },
        ),
        ("broker.reconciled", {"users_created": 2, "permissions_changed": 5}),
        ("broker.connection-closed", {"user": "dinsos", "reason": "connection_closed_abruptly"}),
        # the shapes splp/directory_service/routes emit today
        *[
            (
                f"access.{step}",
                {
                    "actor": "dinsos",
                    "theme": "kependudukan",
                    "publisher": "dukcapil",
                    "service": "penduduk",
                    "requester": "dinsos",
                    "request_id": 3,
                    "from_state": from_state,
                    "to_state": to_state,
                },
            )
            for step, from_state, to_state in [
                ("request", None, "submitted"),
                ("approve", "submitted", "approved"),
                ("grant", "approved", "granted"),
                ("suspend", "granted", "suspended"),
                ("resume", "suspended", "granted"),
                ("revoke", "granted", "revoked"),
            ]
        ],
        ("admin.party-added", {"actor": "admin", "party": "dinsos", "roles": ["requester"]}),
        ("admin.theme-added", {"actor": "admin", "theme": "kependudukan"}),
        (
            "admin.service-published",
            {
                "actor": "dukcapil",
                "theme": "kependudukan",
                "publisher": "dukcapil",
                "service": "penduduk",
                "version": "1.1.0",
            },
        ),
        (
            "admin.lifecycle-changed",
            {
                "actor": "dukcapil",
                "theme": "kependudukan",
                "publisher": "dukcapil",
                "service": "penduduk",
                "version": "1.0.0",
                "from_state": "active",
                "to_state": "deprecated",
            },
        ),
    ],
)
def test_events_built_by_audit_event_validate(kind: str, fields: dict[str, Any]) -> None:
    event = audit_event(kind, "adapter:dukcapil.penduduk.v1", **fields)
    assert errors_of("audit-event", event) == []


@pytest.mark.parametrize(
    ("kind", "fields", "why"),
    [
        ("response", {**META, **ANSWER, "payload": {"nik": NIK}}, "a payload"),
        ("response", {**META, **ANSWER, "body": "{}"}, "a body"),
        ("response", {**META, **ANSWER, "nik": NIK}, "a NIK"),
        ("response", {**META, **ANSWER, "colour": "red"}, "an unknown field"),
        ("response", {**META, **ANSWER, "status": 403}, "a 403 is denied, not a response"),
        ("response", {**META, "status": 200}, "no duration or response size"),
        ("denied", {**META, **ANSWER, "status": 200}, "denied with 200"),
        ("dropped", {**META, "reason": "bored"}, "an unknown drop reason"),
        ("dropped", {**META, **ANSWER, "reason": "expired"}, "a drop has no reply"),
        ("request", {**META}, "an unknown kind"),
        (
            "access.grant",
            {"actor": "dukcapil", "grant": {"nik": NIK}},
            "an object in a control event",
        ),
        ("access.grant", {"actor": "dukcapil", "password": "s3cret"}, "a password"),
        # issue 20, point 7: a person's reason text stays in the directory's history
        ("access.grant", {"actor": "dukcapil", "reason": "approved by Pak Budi"}, "a reason"),
        ("admin.party-added", {"actor": "admin", "reason": "new agency"}, "a reason"),
        ("access.Grant", {"actor": "dukcapil"}, "a kind that is not a name"),
    ],
)
def test_audit_schema_rejects(kind: str, fields: dict[str, Any], why: str) -> None:
    event = audit_event(kind, "adapter:dukcapil.penduduk.v1", **fields)
    assert not validator("audit-event").is_valid(event), why


def test_audit_event_id_and_time_follow_the_schema() -> None:
    event = audit_event("response", "x", **META, **ANSWER)
    for bad in ({"id": "not-hex"}, {"time": "2025-05-01 08:30:00"}, {"source": ""}):
        assert not validator("audit-event").is_valid({**event, **bad}), bad
    assert audit_routing_key(event) == "response.kependudukan.dukcapil.penduduk"


# --- the adapter's real replies and events ------------------------------------------------


@dataclass
class RecordingChannel:
    """Stands in for the AMQP channel of a delivery and records what the adapter does."""

    published: list[tuple[str, str, spec.Basic.Properties, bytes]] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    rejected: list[tuple[int, bool]] = field(default_factory=list)
    is_closed: bool = False

    async def basic_publish(
        self,
        body: bytes,
        *,
        exchange: str = "",
        routing_key: str = "",
        properties: spec.Basic.Properties | None = None,
        **_: Any,
    ) -> None:
        assert properties is not None
        self.published.append((exchange, routing_key, properties, body))

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.acked.append(delivery_tag)

    async def basic_reject(
        self, delivery_tag: int, *, requeue: bool = True, wait: bool = True
    ) -> None:
        self.rejected.append((delivery_tag, requeue))


async def get_by_nik(payload: Any, request: Request) -> Any:
    nik = payload["nik"]
    if nik.endswith("0404"):
        raise Problem.not_found("no resident with that NIK")
    if nik.endswith("0429"):
        raise Problem.of(TooManyRequests, "slow down", retry_after=2)
    if nik.endswith("0500"):
        raise RuntimeError("database down")
    if nik.endswith("9999"):
        return {"nik": nik}  # breaks the response schema
    return {"nik": nik, "name": "Siti Aminah", "village": "Sungai Binjai"}


@dataclass
class Outcome:
    channel: RecordingChannel
    events: list[dict[str, Any]]


async def deliver(
    descriptor: ServiceDescriptor,
    body: bytes,
    properties: spec.Basic.Properties,
    *,
    exchange: str = "splp.theme.kependudukan",
    routing_key: str = "dukcapil.penduduk.v1.get-by-nik",
    max_body_bytes: int = 1024 * 1024,
) -> Outcome:
    adapter = Adapter(
        descriptor,
        {"get-by-nik": get_by_nik},
        Settings(vhost="unused", max_body_bytes=max_body_bytes),
    )
    events: list[dict[str, Any]] = []
    settles: list[Any] = []

    def record(event: dict[str, Any], then: Any = None) -> None:
        """The emitter, confirming at once: the request is settled after its event."""
        events.append(event)
        if then is not None:
            settles.append(then)

    adapter.audit.emit = record  # type: ignore[method-assign]
    channel = RecordingChannel()
    message = DeliveredMessage(
        delivery=spec.Basic.Deliver(
            consumer_tag="ctag", delivery_tag=7, exchange=exchange, routing_key=routing_key
        ),
        header=ContentHeader(properties=properties, body_size=len(body)),
        body=body,
        channel=channel,  # type: ignore[arg-type]
    )
    await adapter._on_message(message)
    for settle in settles:
        await settle()
    return Outcome(channel, events)


ANSWERED = [
    # (name, body, delivery overrides, status, problem type, kind)
    ("ok", {"nik": NIK}, {}, 200, None, "response"),
    ("not-json", b"{nik", {}, 400, "bad-request", "response"),
    ("schema", {"nik": "12"}, {}, 400, "schema-violation", "response"),
    (
        "unknown-operation",
        {"nik": NIK},
        {"routing_key": "dukcapil.penduduk.v1.delete-all"},
        404,
        "not-found",
        "response",
    ),
    (
        "too-large",
        {"nik": NIK, "pad": "x" * 100},
        {"max_body_bytes": 64},
        413,
        "payload-too-large",
        "response",
    ),
    ("bypassed-exchange", {"nik": NIK}, {"exchange": ""}, 403, "forbidden", "denied"),
    ("handler-not-found", {"nik": "1508010101900404"}, {}, 404, "not-found", "response"),
    ("handler-throttled", {"nik": "1508010101900429"}, {}, 429, "too-many-requests", "response"),
    ("handler-crash", {"nik": "1508010101900500"}, {}, 500, "internal", "response"),
    ("bad-response", {"nik": "1508010101909999"}, {}, 500, "internal", "response"),
]


@pytest.mark.parametrize(
    ("body", "overrides", "status", "problem_type", "kind"),
    [case[1:] for case in ANSWERED],
    ids=[case[0] for case in ANSWERED],
)
async def test_adapter_replies_and_events_validate(
    descriptor: ServiceDescriptor,
    body: Any,
    overrides: dict[str, Any],
    status: int,
    problem_type: str | None,
    kind: str,
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    properties = fresh_request()
    outcome = await deliver(descriptor, raw, properties, **overrides)

    [(exchange, routing_key, reply, reply_body)] = outcome.channel.published
    assert (exchange, routing_key) == ("", "amq.rabbitmq.reply-to")
    assert outcome.channel.acked == [7] and outcome.channel.rejected == []
    envelope = envelope_json(reply)
    assert errors_of("envelope", envelope) == []
    assert envelope["correlation_id"] == properties.correlation_id
    assert envelope["headers"]["splp-status"] == status
    decoded = json.loads(reply_body)
    if problem_type is None:
        assert decoded["nik"] == NIK
    else:
        assert errors_of("problem", decoded) == []
        assert decoded["type"] == PROBLEM_BASE + problem_type
        assert decoded["status"] == status

    [event] = outcome.events
    assert errors_of("audit-event", event) == []
    assert (event["kind"], event["status"]) == (kind, status)
    assert event["message_id"] == properties.message_id
    assert NIK not in json.dumps(event)


@pytest.mark.parametrize(
    ("reason", "properties"),
    [
        ("expired", lambda: fresh_request(now=time.time() - 60, timeout=1.0)),
        ("no-reply-to", lambda: _without(fresh_request(), "reply_to")),
    ],
)
async def test_dropped_requests_are_rejected_and_audited(
    descriptor: ServiceDescriptor, reason: str, properties: Any
) -> None:
    outcome = await deliver(descriptor, json.dumps({"nik": NIK}).encode(), properties())
    assert outcome.channel.published == []
    assert outcome.channel.rejected == [(7, False)]
    [event] = outcome.events
    assert errors_of("audit-event", event) == []
    assert (event["kind"], event["reason"]) == ("dropped", reason)


async def test_an_anonymous_request_still_gives_a_valid_event(
    descriptor: ServiceDescriptor,
) -> None:
    properties = _without(_without(fresh_request(), "user_id"), "message_id")
    outcome = await deliver(descriptor, json.dumps({"nik": NIK}).encode(), properties)
    [event] = outcome.events
    assert errors_of("audit-event", event) == []
    assert "requester" not in event and "message_id" not in event


def _without(properties: spec.Basic.Properties, name: str) -> spec.Basic.Properties:
    setattr(properties, name, None)
    return properties


# --- service descriptors --------------------------------------------------------------------


def demo_document() -> dict[str, Any]:
    data = yaml.safe_load(DEMO_DESCRIPTOR.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_demo_descriptor_validates() -> None:
    assert errors_of("service-descriptor", demo_document()) == []


def test_a_descriptor_written_back_by_the_model_validates() -> None:
    descriptor = load_descriptor(DEMO_DESCRIPTOR)
    assert errors_of("service-descriptor", descriptor.model_dump(mode="json")) == []


def test_service_levels_are_written_back_without_the_unset_ones() -> None:
    data = demo_document()
    data["service_level"] = {"contact_name": "Budi", "availability_target": 99.5}
    dumped = parse_descriptor(data).model_dump(mode="json")
    assert dumped["service_level"] == {"contact_name": "Budi", "availability_target": 99.5}
    assert errors_of("service-descriptor", dumped) == []


def _changed(change: Any) -> dict[str, Any]:
    data = demo_document()
    change(data)
    return data


def _op(data: dict[str, Any]) -> dict[str, Any]:
    return data["operations"]["get-by-nik"]  # type: ignore[no-any-return]


def _unmark(data: dict[str, Any]) -> None:
    for operation in data["operations"].values():
        for member in operation["response"].get("properties", {}).values():
            member.pop("x-splp-personal", None)


DESCRIPTOR_CASES = [
    ("upper-case publisher", lambda d: d.update(publisher="Dukcapil"), False),
    ("dot in service", lambda d: d.update(service="pen.duduk"), False),
    ("leading dash theme", lambda d: d.update(theme="-kependudukan"), False),
    ("64-character name", lambda d: d.update(service="a" * 64), False),
    ("63-character name", lambda d: d.update(service="a" * 63), True),
    ("digits and dashes", lambda d: d.update(service="data-2024"), True),
    ("two-part version", lambda d: d.update(version="1.0"), False),
    ("leading zero version", lambda d: d.update(version="01.0.0"), False),
    ("pre-release version", lambda d: d.update(version="1.0.0-rc1"), False),
    ("version 10.20.30", lambda d: d.update(version="10.20.30"), True),
    ("unknown classification", lambda d: d.update(classification="secret"), False),
    ("sensitive classification", lambda d: d.update(classification="sensitive"), True),
    # the demo marks personal fields: without a classification (internal) only unmarked
    ("no classification", lambda d: (d.pop("classification"), _unmark(d)), True),
    ("empty title", lambda d: d.update(title=""), False),
    ("201-character title", lambda d: d.update(title="t" * 201), False),
    ("no title", lambda d: d.pop("title"), False),
    ("unknown member", lambda d: d.update(owner="someone"), False),
    ("no operations", lambda d: d.update(operations={}), False),
    (
        "upper-case operation",
        lambda d: d["operations"].update(GetByNik=d["operations"]["get-by-nik"]),
        False,
    ),
    ("operation without response", lambda d: _op(d).pop("response"), False),
    ("unknown operation member", lambda d: _op(d).update(method="GET"), False),
    ("request schema not a schema", lambda d: _op(d).update(request={"type": "record"}), False),
    ("request schema a boolean", lambda d: _op(d).update(request=True), False),
    ("minimal request schema", lambda d: _op(d).update(request={}), True),
    (
        "service levels",
        lambda d: d.update(
            service_level={
                "contact_name": "Budi",
                "contact_email": "budi@dukcapil.go.id",
                "contact_phone": "+62 747 21000",
                "operating_hours": "Senin-Jumat 07:00-16:00 WIB",
                "availability_target": 99.5,
                "p95_target_ms": 800,
            }
        ),
        True,
    ),
    ("empty service levels", lambda d: d.update(service_level={}), True),
    (
        "availability over 100",
        lambda d: d.update(service_level={"availability_target": 101}),
        False,
    ),
    ("zero p95 target", lambda d: d.update(service_level={"p95_target_ms": 0}), False),
    (
        "contact e-mail without @",
        lambda d: d.update(service_level={"contact_email": "budi"}),
        False,
    ),
    ("unknown service level", lambda d: d.update(service_level={"uptime": 1}), False),
]


@pytest.mark.parametrize(
    ("change", "valid"), [c[1:] for c in DESCRIPTOR_CASES], ids=[c[0] for c in DESCRIPTOR_CASES]
)
def test_descriptor_schema_agrees_with_the_model(change: Any, valid: bool) -> None:
    data = _changed(change)
    assert validator("service-descriptor").is_valid(data) is valid
    if valid:
        parse_descriptor(data)
    else:
        with pytest.raises(ConfigurationError):
            parse_descriptor(data)
