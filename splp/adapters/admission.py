"""The checks an adapter makes on a request before its handler runs (wire protocol §6.2).

:func:`admit` is a pure function of the request, the adapter's rules and the time: no
broker, no I/O. Its verdict is one of

* :class:`Dropped`: the request cannot be answered usefully or safely (deadline passed,
  ``reply_to`` missing or not a direct reply-to address); it is rejected to the dead
  letters, no one is told. When it also bypassed the theme exchange or carried no
  ``user_id`` (an injection), its ``denied`` names the 403 it would have got, and it is
  audited as ``denied``, not ``dropped``: the caller is checked first of all;
* :class:`Refused`: the problem to answer with, checked in this order: not through the
  theme exchange or no ``user_id`` (403), unknown operation (404), an ``splp-protocol``
  other than the integer 1 or an ``splp-deadline`` that is not an integer (400), no grant
  in force (403) or over quota (429), oversized body (413), not UTF-8 JSON (400), not
  matching the request schema (400 with the failing JSON pointers);
* :class:`Admitted`: the decoded payload and the :class:`~splp.bus.wire.Request` the
  handler gets; for a call through the HTTP gateway, its ``requester`` is the requester's
  own broker user and its ``via`` is ``"gateway"``; for a call over a partner regency's link
  (:mod:`splp.bus.federation`), its ``requester`` is the broker user the partner's party
  would have here, ``<prefix><partner>--<party>``, and its ``via`` is ``"link"``.

>>> from dataclasses import replace
>>> from splp.bus.descriptor import parse_descriptor
>>> echo = parse_descriptor({"publisher": "dukcapil", "service": "echo", "version": "1.0.0",
...     "theme": "uji", "title": "Echo", "operations": {
...         "echo": {"request": {"type": "object"}, "response": {"type": "object"}}}})
>>> rules = AdmissionRules(echo, max_body_bytes=1024)
>>> incoming = Incoming("splp.theme.uji", "dukcapil.echo.v1.echo", b'{"a": 1}',
...                     user_id="dinsos", reply_to="amq.rabbitmq.reply-to.g1h2")
>>> admit(incoming, rules, now=0.0).payload
{'a': 1}
>>> admit(replace(incoming, user_id=None), rules, now=0.0).problem.status
403
>>> gateway_call = admit(replace(incoming, user_id="dinsos@gateway"), rules, now=0.0).request
>>> gateway_call.requester, gateway_call.via
('dinsos', 'gateway')
>>> admit(replace(incoming, reply_to="splp.svc.other"), rules, now=0.0)
Dropped(reason='bad-reply-to', denied=None)
>>> admit(replace(incoming, exchange="", reply_to="splp.svc.other"), rules, now=0.0).kind
'denied'
>>> linked = replace(incoming, exchange="splp.link.kab-a.in", user_id="kab-a",
...                  routing_key="dinsos.dukcapil.echo.v1.echo")
>>> admit(linked, rules, now=0.0).request.requester, admit(linked, rules, now=0.0).request.via
('kab-a--dinsos', 'link')
>>> admit(replace(linked, user_id="dinsos"), rules, now=0.0).problem.status
403
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from splp.bus.descriptor import ServiceDescriptor, schema_errors
from splp.bus.federation import VIA_LINK, inbound_call
from splp.bus.gateway_identity import requester_of
from splp.bus.names import DIRECT_REPLY_TO, routing_key_for, theme_exchange
from splp.bus.wire import (
    HEADER_DEADLINE,
    HEADER_PROTOCOL,
    HEADER_TRACEPARENT,
    PROTOCOL_VERSION,
    Problem,
    Request,
    is_integer,
    loads,
)
from splp.errors import ContractError, PayloadTooLarge, SchemaViolation


@dataclass(frozen=True, slots=True)
class Incoming:
    """What the checks read from one delivery: its method, properties and body."""

    exchange: str
    routing_key: str
    body: bytes
    user_id: str | None = None
    reply_to: str | None = None
    deadline: float | None = None  # epoch seconds
    headers: Mapping[str, object] = field(default_factory=dict)
    message_id: str | None = None
    correlation_id: str | None = None
    redelivered: bool = False


class AdmissionRules:
    """What an adapter of ``descriptor`` admits: its exchange, its operations, a body limit.

    With grants from the directory, ``grant_check(user_id, operation)`` is the second
    enforcement layer: it returns when the caller holds a grant in force, else raises the
    problem to answer with (:class:`splp.adapters.grants.GrantCheck`, which also takes the
    quota, check 3d, between :func:`screen` and :func:`examine`). What it returns is the
    set of response fields the grant allows (``None``: every field); the adapter removes
    the others from the reply (``grant_fields`` looks them up again for :func:`examine`,
    without raising). ``user_prefix`` is that of the parties' broker users: a partner's
    link user is ``<user_prefix><partner>``.
    """

    def __init__(
        self,
        descriptor: ServiceDescriptor,
        *,
        max_body_bytes: int,
        grant_check: Callable[[str, str], frozenset[str] | None] | None = None,
        user_prefix: str = "",
        grant_fields: Callable[[str, str], frozenset[str] | None] | None = None,
    ) -> None:
        self.descriptor = descriptor
        self.user_prefix = user_prefix
        self.exchange = theme_exchange(descriptor.theme)
        self.max_body_bytes = max_body_bytes
        self.grant_check = grant_check
        self.grant_fields = grant_fields
        self.operations = {routing_key_for(descriptor.ref, op): op for op in descriptor.operations}

    def operation_for(self, routing_key: str) -> str | None:
        """The operation a request routing key names, None when it names none of ours."""
        return self.operations.get(routing_key)


@dataclass(frozen=True, slots=True)
class Dropped:
    """Not answered: ``reason`` is ``expired``, ``no-reply-to`` or ``bad-reply-to``.

    ``denied`` is the 403 an injection would have been answered with: such a drop is
    audited as ``denied`` (with the reason), so abuse reports count it.
    """

    reason: str
    denied: Problem | None = None

    @property
    def kind(self) -> str:
        """The audit kind: ``denied`` for an injection, else ``dropped``."""
        return "dropped" if self.denied is None else "denied"


@dataclass(frozen=True, slots=True)
class Refused:
    """Answered with ``problem``, the handler does not run."""

    problem: Problem


@dataclass(frozen=True, slots=True)
class Admitted:
    """Handed to the handler of ``request.operation``; ``fields`` are the response fields
    the caller's grant allows (``None``: every field)."""

    payload: Any
    request: Request
    fields: frozenset[str] | None = None


Verdict = Admitted | Refused | Dropped


def caller_of(incoming: Incoming, rules: AdmissionRules) -> tuple[str | None, str | None]:
    """The requester's broker user and the way its call came (``gateway``, ``link`` or
    ``None``), as far as the broker vouches for them."""
    linked = inbound_call(
        incoming.exchange, incoming.routing_key, incoming.user_id, rules.user_prefix
    )
    if linked is not None:
        return rules.user_prefix + linked.party, VIA_LINK
    return requester_of(incoming.user_id) if incoming.user_id else (None, None)


def localized(incoming: Incoming, rules: AdmissionRules) -> tuple[Incoming, str | None]:
    """``incoming`` as this bus sees it, and ``"link"`` for a call over a partner's link.

    A call over a partner's link is checked as the call of the partner's party, on the
    routing key it has on this bus, once :func:`~splp.bus.federation.inbound_call` found
    that the partner's link user (validated by the broker) carried it. Applying it twice
    changes nothing.
    """
    linked = inbound_call(
        incoming.exchange, incoming.routing_key, incoming.user_id, rules.user_prefix
    )
    if linked is None:
        return incoming, None
    local = replace(
        incoming,
        exchange=rules.exchange,
        routing_key=linked.routing_key,
        user_id=rules.user_prefix + linked.party,
    )
    return local, VIA_LINK


def admit(incoming: Incoming, rules: AdmissionRules, now: float) -> Verdict:
    """The verdict on ``incoming`` at ``now`` (epoch seconds), by the checks of §6.2."""
    return screen(incoming, rules, now) or examine(incoming, rules)


def screen(incoming: Incoming, rules: AdmissionRules, now: float) -> Dropped | Refused | None:
    """Checks 1 to 3c (the caller, the deadline and ``reply_to``, the operation, the
    headers, the grant): the verdict of the first that fails, else ``None``.

    An adapter takes the grant's quota (check 3d, which needs I/O when the replicas share
    it) between :func:`screen` and :func:`examine`; :func:`admit` runs both.
    """
    incoming, _via = localized(incoming, rules)
    denied = _caller_denial(incoming, rules)
    expired = incoming.deadline is not None and incoming.deadline < now
    reply_to = incoming.reply_to
    if expired or not reply_to or not reply_to.startswith(DIRECT_REPLY_TO):
        # Replying to a named queue would let a caller push a service's data into any
        # queue of the vhost; requesters can only receive through direct reply-to.
        reason = "expired" if expired else "bad-reply-to" if reply_to else "no-reply-to"
        return Dropped(reason, denied)
    if denied is not None:
        return Refused(denied)
    try:
        _check_caller(incoming, rules)
    except Problem as problem:
        return Refused(problem)
    return None


def examine(incoming: Incoming, rules: AdmissionRules) -> Admitted | Refused:
    """Checks 4 to 6 (size, JSON, schema) of a request that passed :func:`screen`."""
    incoming, via = localized(incoming, rules)
    assert incoming.user_id and incoming.reply_to  # screen refused a request without them
    operation = rules.operation_for(incoming.routing_key)
    assert operation is not None
    try:
        payload = _check_body(incoming, rules, operation)
        # the grant passed screen: what it allows of the reply (``None``: every field)
        fields = rules.grant_fields(incoming.user_id, operation) if rules.grant_fields else None
    except Problem as problem:
        return Refused(problem)
    requester, via = (incoming.user_id, via) if via else requester_of(incoming.user_id)
    request = Request(
        message_id=incoming.message_id or "",
        correlation_id=incoming.correlation_id or "",
        reply_to=incoming.reply_to,
        requester=requester,
        via=via,
        operation=operation,
        deadline=incoming.deadline,
        traceparent=_text(incoming.headers.get(HEADER_TRACEPARENT)),
        redelivered=incoming.redelivered,
        body=incoming.body,
    )
    return Admitted(payload, request, fields)


def _caller_denial(incoming: Incoming, rules: AdmissionRules) -> Problem | None:
    """Checks 1a and 1b: the 403 for a request that bypassed the broker's checks."""
    if incoming.exchange != rules.exchange:
        return Problem.forbidden(f"requests must be published to {rules.exchange}")
    if not incoming.user_id:
        return Problem.forbidden("the request carries no user_id, so no caller is known")
    return None


def _check_caller(incoming: Incoming, rules: AdmissionRules) -> frozenset[str] | None:
    """Checks 3a to 3c: the fields the caller's grant allows; raises the problem to
    answer with."""
    assert incoming.user_id  # _caller_denial refused a request without one
    operation = rules.operation_for(incoming.routing_key)
    if operation is None:
        raise Problem.not_found(
            f"{incoming.routing_key!r} is not an operation of {rules.descriptor.ref}"
        )
    _check_headers(incoming.headers)
    fields = None
    if rules.grant_check is not None:
        fields = rules.grant_check(incoming.user_id, operation)
    return fields


def _check_body(incoming: Incoming, rules: AdmissionRules, operation: str) -> Any:
    """Checks 4 to 6: the decoded payload; raises the problem to answer with."""
    limit = rules.max_body_bytes
    if len(incoming.body) > limit:
        raise Problem.of(
            PayloadTooLarge,
            f"the body is {len(incoming.body)} bytes; the limit is {limit}",
            max_body_bytes=limit,
        )
    try:
        payload = loads(incoming.body)
    except ContractError as exc:
        raise Problem.bad_request(str(exc)) from None
    request_validator, _ = rules.descriptor.validators[operation]
    errors = schema_errors(request_validator, payload)
    if errors:
        raise Problem.of(
            SchemaViolation,
            f"the request does not match the schema of {operation}",
            errors=errors,
        )
    return payload


def _check_headers(headers: Mapping[str, object]) -> None:
    """Check 3b: the SPLP headers have their pinned AMQP types (§5.2)."""
    protocol = headers.get(HEADER_PROTOCOL, PROTOCOL_VERSION)
    if not is_integer(protocol) or protocol != PROTOCOL_VERSION:
        raise Problem.bad_request(
            f"splp-protocol {_shown(protocol)} is not supported "
            "(this adapter speaks 1, sent as an AMQP integer)"
        )
    deadline = headers.get(HEADER_DEADLINE)
    if deadline is not None and not is_integer(deadline):
        raise Problem.bad_request(
            f"splp-deadline must be an AMQP integer (epoch milliseconds), "
            f"not a {_field_type(deadline)} field"
        )


def _field_type(value: object) -> str:
    """The AMQP field type of a decoded header value, in the words of §5.2."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str | bytes):
        return "string"
    if isinstance(value, float):
        return "floating-point"
    return type(value).__name__


def _shown(value: object) -> str:
    """A header value for a problem's detail, cut short (headers are not payload)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
