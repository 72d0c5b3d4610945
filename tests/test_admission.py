"""The adapter's admission checks, as a pure function: no broker, no I/O.

The same checks run end to end against the real broker in ``test_adapter_input.py`` and
``test_adapter_grants.py``; here each check, and their order, is pinned directly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiormq import spec

from splp.adapters.admission import (
    AdmissionRules,
    Admitted,
    Dropped,
    Incoming,
    Refused,
    Verdict,
    admit,
)
from splp.adapters.grants import Throttled
from splp.bus.descriptor import parse_descriptor
from splp.bus.names import DIRECT_REPLY_TO
from splp.bus.wire import (
    HEADER_DEADLINE,
    HEADER_PROTOCOL,
    HEADER_TRACEPARENT,
    Problem,
    deadline_of,
)
from splp.documents import read_document
from splp.errors import TooManyRequests
from tests.services import echo_descriptor

PENDUDUK = Path(__file__).resolve().parent.parent / "splp" / "demo" / "penduduk.yaml"

ECHO = echo_descriptor(service="echo-admission")
NOW = 1_700_000_000.0
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
GOOD = Incoming(
    exchange="splp.theme.uji",
    routing_key=f"{ECHO.ref}.echo",
    body=b'{"id": 7}',
    user_id="dinsos",
    reply_to=f"{DIRECT_REPLY_TO}.g1h2AA",
    deadline=NOW + 5,
    headers={HEADER_PROTOCOL: 1, HEADER_TRACEPARENT: TRACE},
    message_id="m-1",
    correlation_id="c-1",
    redelivered=True,
)


def rules(**options: Any) -> AdmissionRules:
    return AdmissionRules(ECHO, max_body_bytes=options.pop("max_body_bytes", 64), **options)


def refused(verdict: Verdict) -> Problem:
    assert isinstance(verdict, Refused), verdict
    return verdict.problem


def test_a_good_request_is_admitted_with_what_the_handler_needs() -> None:
    verdict = admit(GOOD, rules(), NOW)
    assert isinstance(verdict, Admitted)
    assert verdict.payload == {"id": 7}
    request = verdict.request
    assert (request.operation, request.requester) == ("echo", "dinsos")
    assert (request.message_id, request.correlation_id) == ("m-1", "c-1")
    assert request.reply_to == GOOD.reply_to
    assert request.deadline == NOW + 5
    assert request.traceparent == TRACE
    assert request.redelivered is True
    assert request.body == GOOD.body


def test_without_a_protocol_header_version_1_is_assumed() -> None:
    assert isinstance(admit(replace(GOOD, headers={}), rules(), NOW), Admitted)


@pytest.mark.parametrize(
    "headers",
    [
        {HEADER_PROTOCOL: 1.0, HEADER_DEADLINE: (NOW + 5) * 1000},
        {HEADER_PROTOCOL: 1, HEADER_DEADLINE: int((NOW + 5) * 1000)},
    ],
    ids=["whole-floats", "integers"],
)
def test_a_whole_number_in_a_floating_point_field_reads_as_the_integer(
    headers: dict[str, Any],
) -> None:
    """JavaScript's AMQP clients cannot tell 1 from 1.0: both read the same (§5.2)."""
    assert isinstance(admit(replace(GOOD, headers=headers), rules(), NOW), Admitted)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"deadline": NOW - 0.001}, "expired"),
        ({"reply_to": None}, "no-reply-to"),
        ({"reply_to": ""}, "no-reply-to"),
        ({"reply_to": "splp.svc.other.queue.v1"}, "bad-reply-to"),
    ],
)
def test_requests_that_cannot_be_answered_are_dropped(change: dict[str, Any], reason: str) -> None:
    assert admit(replace(GOOD, **change), rules(), NOW) == Dropped(reason)


def test_a_drop_comes_before_every_check_but_the_callers() -> None:
    hopeless = replace(GOOD, routing_key="x.y.v1.z", body=b"x" * 100, reply_to=None)
    assert admit(hopeless, rules(), NOW) == Dropped("no-reply-to")
    # an injection is checked first of all: it is still dropped (no one can be told) but
    # recorded as denied, so the abuse report counts it (issue 20, point 10)
    injection = replace(hopeless, exchange="", user_id=None)
    verdict = admit(injection, rules(), NOW)
    assert isinstance(verdict, Dropped)
    assert (verdict.reason, verdict.kind) == ("no-reply-to", "denied")
    assert verdict.denied is not None and verdict.denied.status == 403


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"reply_to": "splp.svc.other.queue.v1"}, "bad-reply-to"),
        ({"reply_to": None}, "no-reply-to"),
        ({"deadline": NOW - 1}, "expired"),
    ],
)
@pytest.mark.parametrize(
    "injection",
    [{"exchange": ""}, {"exchange": "splp.theme.other"}, {"user_id": None}],
    ids=["default-exchange", "other-exchange", "no-user-id"],
)
def test_an_unanswerable_injection_is_denied_not_dropped(
    injection: dict[str, Any], change: dict[str, Any], reason: str
) -> None:
    verdict = admit(replace(GOOD, **injection, **change), rules(), NOW)
    assert isinstance(verdict, Dropped)
    assert (verdict.kind, verdict.reason) == ("denied", reason)
    assert verdict.denied is not None
    assert verdict.denied.type == "urn:splp:problem:forbidden"


def test_no_deadline_never_expires() -> None:
    assert isinstance(admit(replace(GOOD, deadline=None), rules(), NOW), Admitted)


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"exchange": ""}, 403, "requests must be published to splp.theme.uji"),
        ({"exchange": "splp.theme.other"}, 403, "requests must be published to"),
        ({"user_id": None}, 403, "carries no user_id"),
        ({"user_id": ""}, 403, "carries no user_id"),
        ({"routing_key": f"{ECHO.ref}.nope"}, 404, "is not an operation of"),
        ({"headers": {HEADER_PROTOCOL: 2}}, 400, "splp-protocol 2 is not supported"),
        ({"headers": {HEADER_PROTOCOL: "1"}}, 400, "splp-protocol '1' is not supported"),
        ({"body": b'{"id": "' + b"x" * 60 + b'"}'}, 413, "bytes; the limit is 64"),
        ({"body": b"{not json"}, 400, "not valid UTF-8 JSON"),
        ({"body": b'{"id": "seven"}'}, 400, "does not match the schema of echo"),
        # issue 20, point 2: the header types are pinned; nothing is silently ignored
        ({"headers": {HEADER_PROTOCOL: True}}, 400, "splp-protocol True is not supported"),
        ({"headers": {HEADER_PROTOCOL: 1.5}}, 400, "splp-protocol 1.5 is not supported"),
        ({"headers": {HEADER_PROTOCOL: "1"}}, 400, "sent as an AMQP integer"),
        ({"headers": {HEADER_DEADLINE: str(int(NOW * 1000))}}, 400, "not a string field"),
        ({"headers": {HEADER_DEADLINE: b"1700000005000"}}, 400, "not a string field"),
        ({"headers": {HEADER_DEADLINE: NOW * 1000 + 5.5}}, 400, "not a floating-point field"),
        ({"headers": {HEADER_DEADLINE: True}}, 400, "not a boolean field"),
        # point 3: "UTF-8 JSON" is RFC 8259 text in UTF-8, no BOM, NaN or duplicate names
        ({"body": b'{"id": NaN}'}, 400, "not valid UTF-8 JSON"),
        ({"body": b'{"id": Infinity}'}, 400, "not valid UTF-8 JSON"),
        ({"body": b"\xef\xbb\xbf{}"}, 400, "not valid UTF-8 JSON"),
        ({"body": b'{"id": 1, "id": 2}'}, 400, "duplicate member name"),
        ({"body": b'[{"a": {"b": 1, "b": 1}}]'}, 400, "duplicate member name"),
        ({"body": b'{"id": "\\ud800"}'}, 400, "not valid UTF-8 JSON"),
        ({"body": b'{"id": 1} x'}, 400, "not valid UTF-8 JSON"),
    ],
)
def test_each_check_refuses_with_its_problem(
    change: dict[str, Any], status: int, detail: str
) -> None:
    problem = refused(admit(replace(GOOD, **change), rules(), NOW))
    assert problem.status == status
    assert detail in problem.body["detail"]


def test_a_schema_violation_names_the_failing_pointer() -> None:
    problem = refused(admit(replace(GOOD, body=b'{"id": "seven"}'), rules(), NOW))
    assert [error["pointer"] for error in problem.body["errors"]] == ["/id"]


def test_a_missing_member_is_pointed_at_and_no_message_repeats_a_value() -> None:
    """Point 4: the pointer of a missing required member is where it should be, and the
    messages are built from the schema: a NIK sent in the wrong place never comes back."""
    nik = "1508010101900001"
    penduduk = AdmissionRules(parse_descriptor(read_document(PENDUDUK)), max_body_bytes=1024)
    incoming = replace(
        GOOD, exchange="splp.theme.kependudukan", routing_key="dukcapil.penduduk.v1.get-by-nik"
    )
    problem = refused(admit(replace(incoming, body=b"{}"), penduduk, NOW))
    assert problem.body["errors"] == [{"pointer": "/nik", "message": "is required"}]

    body = orjson.dumps({"nik": nik + "0", "name": nik})
    problem = refused(admit(replace(incoming, body=body), penduduk, NOW))
    assert problem.body["errors"] == [
        {"pointer": "/nik", "message": "must match the pattern ^[0-9]{16}$"},
        {"pointer": "", "message": "has members the schema does not allow"},
    ]
    assert nik not in orjson.dumps(problem.body).decode()


def test_a_payload_too_large_problem_tells_the_limit() -> None:
    """Point 5: the limit is discoverable from the 413 itself."""
    problem = refused(admit(replace(GOOD, body=b"[" + b"1," * 40 + b"1]"), rules(), NOW))
    assert (problem.status, problem.body["max_body_bytes"]) == (413, 64)


def test_the_checks_run_in_the_order_of_the_wire_protocol() -> None:
    """A request failing every check is put right one check at a time: each fix uncovers
    the next check's problem, so the first failing check is always the one that answers."""
    granted: set[str] = set()

    def grant_check(user_id: str, operation: str) -> None:
        if user_id not in granted:
            raise Problem.forbidden(f"{user_id} holds no grant for {operation}")

    strict = rules(grant_check=grant_check)
    request = replace(
        GOOD,
        exchange="",
        user_id=None,
        routing_key="x.y.v1.z",
        headers={HEADER_PROTOCOL: 9},
        body=b"{" * 100,
    )
    steps: list[tuple[str, str, Any]] = [
        ("requests must be published", "exchange", GOOD.exchange),
        ("carries no user_id", "user_id", GOOD.user_id),
        ("is not an operation of", "routing_key", GOOD.routing_key),
        ("splp-protocol 9", "headers", GOOD.headers),
        ("dinsos holds no grant for echo", "grant", None),
        ("the limit is 64", "body", b"{" * 10),
        ("not valid UTF-8 JSON", "body", b"{}"),
        ("does not match the schema", "body", b'{"id": 1}'),
    ]
    for detail, field, fix in steps:
        assert detail in refused(admit(request, strict, NOW)).body["detail"]
        if field == "grant":
            granted.add("dinsos")
        else:
            request = replace(request, **{field: fix})
    assert isinstance(admit(request, strict, NOW), Admitted)


def test_the_grant_check_sees_the_broker_validated_caller_and_the_operation() -> None:
    seen: list[tuple[str, str]] = []
    verdict = admit(GOOD, rules(grant_check=lambda *call: seen.append(call)), NOW)
    assert isinstance(verdict, Admitted)
    assert seen == [("dinsos", "echo")]


def test_a_throttled_caller_is_refused_with_the_throttled_problem() -> None:
    def over_quota(user_id: str, operation: str) -> None:
        raise Throttled.of(TooManyRequests, "the quota is used up", retry_after=3)

    problem = refused(admit(GOOD, rules(grant_check=over_quota), NOW))
    assert isinstance(problem, Throttled)
    assert (problem.status, problem.body["retry_after"]) == (429, 3)


def test_the_payload_is_the_decoded_body() -> None:
    body = orjson.dumps({"id": 1, "delay": 0.5})
    verdict = admit(replace(GOOD, body=body), rules(), NOW)
    assert isinstance(verdict, Admitted)
    assert verdict.payload == {"id": 1, "delay": 0.5}


def test_a_deadline_that_is_not_an_integer_is_not_read_but_the_fallback_still_drops() -> None:
    """Point 2: a string splp-deadline never counts as a deadline; the timestamp and
    expiration still decide whether the request is dropped, else check 3b answers 400."""
    sent = datetime.fromtimestamp(int(NOW) - 60, tz=UTC)
    stale = spec.Basic.Properties(
        timestamp=sent, expiration="5000", headers={HEADER_DEADLINE: str(int(NOW * 1000) + 5000)}
    )
    assert deadline_of(stale) == int(NOW) - 60 + 5 + 1
    fresh = spec.Basic.Properties(headers={HEADER_DEADLINE: str(int(NOW * 1000) + 5000)})
    assert deadline_of(fresh) is None
    assert deadline_of(spec.Basic.Properties(headers={HEADER_DEADLINE: 1_700_000_005_000})) == (
        NOW + 5
    )


# --- calls over a partner regency's link (docs/federation.md) ----------------------------

LINKED = replace(
    GOOD,
    exchange="splp.link.kab-a.in",
    routing_key=f"dinsos.{ECHO.ref}.echo",
    user_id="p-kab-a",
)


def test_a_call_over_a_link_is_the_partners_partys() -> None:
    seen: list[tuple[str, str]] = []
    verdict = admit(
        LINKED,
        rules(user_prefix="p-", grant_check=lambda user, op: seen.append((user, op))),
        NOW,
    )
    assert isinstance(verdict, Admitted), verdict
    assert (verdict.request.requester, verdict.request.via) == ("p-kab-a--dinsos", "link")
    assert verdict.request.operation == "echo"
    assert seen == [("p-kab-a--dinsos", "echo")]  # the grants of kab-a's dinsos decide


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"user_id": "p-kab-c"}, 403),  # another partner's link user
        ({"user_id": "p-dinsos"}, 403),  # a party of this regency
        ({"user_id": "kab-a"}, 403),  # without the prefix of this bus's users
        ({"exchange": "splp.link.kab-a.out"}, 403),  # not the inbound exchange
        ({"routing_key": f"Dinsos.{ECHO.ref}.echo"}, 403),  # no valid origin party
        ({"routing_key": f"{ECHO.ref}.echo"}, 404),  # the publisher taken for the party
    ],
)
def test_a_link_is_trusted_only_from_its_link_user(change: dict[str, Any], status: int) -> None:
    verdict = admit(replace(LINKED, **change), rules(user_prefix="p-"), NOW)
    assert isinstance(verdict, Refused), verdict
    assert verdict.problem.status == status
