"""Access requests, their history and the grants they become (Pasal 7).

The state machine itself is :mod:`splp.directory_service.workflow`; this module applies
it to the store: who is asking, whether the step is theirs to take, and the record of
every step (actor, time, states, reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from splp.bus.names import ServiceRef
from splp.db import utcnow
from splp.directory_service.catalog import ServiceMajor, find_service
from splp.directory_service.models import AccessEvent, AccessRequest, Party, Service, User
from splp.directory_service.parties import Caller
from splp.directory_service.workflow import (
    NEGATIVE_STEPS,
    IllegalStep,
    Step,
    check_step,
    may_step,
    who_may,
)
from splp.web.problems import Problem

PROTECTED = frozenset({"personal", "sensitive"})
"""Classifications whose access UU 27/2022 binds: purpose, legal basis, contact, check,
expiry and quota."""
STATEMENT = ("purpose", "legal_basis", "contact")


@dataclass(frozen=True, slots=True)
class Statement:
    """What a requester states about its use of personal data (UU 27/2022)."""

    purpose: str | None = None
    legal_basis: str | None = None
    contact: str | None = None


def missing_statement(statement: Statement) -> list[str]:
    """The members of ``statement`` that are absent or blank.

    >>> missing_statement(Statement(purpose="bansos", legal_basis=" "))
    ['legal_basis', 'contact']
    """
    return [name for name in STATEMENT if not (getattr(statement, name) or "").strip()]


@dataclass(frozen=True, slots=True)
class StepTaken:
    """The outcome of a step: the request after it and what the audit event needs."""

    request: dict[str, Any]
    step: str
    from_state: str | None
    to_state: str
    publisher: str
    service: str
    major: int


async def submit(
    session: AsyncSession,
    caller: Caller,
    ref: ServiceRef,
    operations: list[str] | None,
    reason: str,
    statement: Statement = Statement(),
    *,
    expires_wanted: datetime | None = None,
    max_grant_days: int = 365,
) -> StepTaken:
    """A requester applies for access to a service, for itself.

    For a ``personal`` or ``sensitive`` service the request must state its purpose, its
    legal basis and a contact person, else it is a 422 naming the missing members.
    ``expires_wanted``, the expiry asked for, must be in the future and, for such a
    service, at most ``max_grant_days`` away (the most a grant may give), else a 422
    naming the field.
    """
    try:
        group = await find_service(session, ref)
    except Problem:
        raise Problem(422, f"unknown service {ref}: it is not in the directory") from None
    if group.retired:
        raise Problem(409, f"{ref} is retired; ask for access to a newer version")
    if operations is not None:
        offered = set(group.descriptor().operations)
        unknown = sorted(set(operations) - offered)
        if unknown:
            raise Problem(422, f"{ref} has no operation {', '.join(unknown)}")
    classification = group.current.classification
    missing = missing_statement(statement)
    if classification in PROTECTED and missing:
        raise Problem(
            422,
            f"{ref} holds {classification} data (UU 27/2022): an access request must state "
            f"{', '.join(missing)}",
            kind="data-protection",
            missing=missing,
        )
    if expires_wanted is not None:
        _check_wanted(expires_wanted, classification in PROTECTED, max_grant_days)
    request = AccessRequest(
        requester_id=caller.id,
        service_id=group.service.id,
        major=ref.major,
        operations=sorted(operations) if operations is not None else None,
        reason=reason,
        state="submitted",
        purpose=statement.purpose,
        legal_basis=statement.legal_basis,
        contact=statement.contact,
        expires_wanted=expires_wanted,
    )
    session.add(request)
    await session.flush()
    session.add(
        AccessEvent(
            request_id=request.id,
            step="request",
            actor_id=caller.id,
            actor_user_id=caller.user_id,
            from_state=None,
            to_state="submitted",
            reason=reason,
        )
    )
    await session.flush()
    return StepTaken(
        await view(session, request),
        "request",
        None,
        "submitted",
        ref.publisher,
        ref.service,
        ref.major,
    )


def _check_wanted(wanted: datetime, protected: bool, max_days: int) -> None:
    """The expiry asked for is in the future, and not beyond what a grant of personal or
    sensitive data may give."""
    problem = None
    if wanted <= utcnow():
        problem = "must be in the future"
    elif protected and wanted > utcnow() + timedelta(days=max_days):
        problem = f"must be at most {max_days} days away for personal or sensitive data"
    if problem:
        raise Problem(
            422,
            f"expires_wanted {wanted.isoformat()} {problem}",
            errors=[{"pointer": "body/expires_wanted", "message": problem}],
        )


async def take_step(
    session: AsyncSession,
    caller: Caller,
    request_id: int,
    step: Step,
    reason: str,
    *,
    quota_per_minute: int | None = None,
    expires_at: datetime | None = None,
    operations: list[str] | None = None,
    fields: list[str] | None = None,
    data_protection_note: str | None = None,
    max_grant_days: int = 365,
) -> StepTaken:
    """Apply ``step`` to a request, or raise 403 (not the caller's step) or 409 (wrong state).

    For a ``personal`` or ``sensitive`` service, ``approve`` needs a
    ``data_protection_note`` and ``grant`` an expiry at most ``max_grant_days`` away and
    a quota (422 otherwise).
    """
    request = await _load(session, request_id, for_update=True)
    publisher = await _publisher_of(session, request)
    is_owner = "publisher" in caller.roles and publisher.id == caller.id
    if not may_step(step, is_administrator=caller.is_administrator, is_owner=is_owner):
        raise Problem(403, f"{who_may(step)} may {step} access request {request_id}")
    try:
        target = check_step(request.state, step)
    except IllegalStep as exc:
        raise Problem(409, str(exc), kind="illegal-step", state=request.state) from None
    if step in NEGATIVE_STEPS and not reason:
        raise Problem(422, f"{step} needs a reason: the requester is told why")
    changes: dict[str, Any] = {}
    group = await _group_of(session, request)
    protected = group.current.classification in PROTECTED
    if step == "approve":
        note = (data_protection_note or "").strip()
        if protected and not note:
            raise Problem(
                422,
                f"{group.ref} holds {group.current.classification} data: the approval records "
                "a data-protection check; give data_protection_note",
                kind="data-protection",
                missing=["data_protection_note"],
            )
        changes["data_protection_note"] = note or None
    if step == "grant":
        if expires_at is not None and expires_at <= utcnow():
            raise Problem(422, f"expires_at {expires_at.isoformat()} is in the past")
        if protected:
            _check_protected_grant(group, expires_at, quota_per_minute, max_grant_days)
        if fields is not None:
            granted = operations if operations is not None else request.operations
            _check_fields(group, fields, granted)
            changes["fields"] = sorted(fields)
        if operations is not None:
            asked = set(request.operations) if request.operations is not None else None
            extra = sorted(set(operations) - asked) if asked is not None else []
            if extra:
                raise Problem(422, f"operations {', '.join(extra)} were not asked for")
            if asked is None:
                unknown = sorted(set(operations) - set(group.descriptor().operations))
                if unknown:
                    raise Problem(422, f"the service has no operation {', '.join(unknown)}")
            changes["operations"] = sorted(operations)
        changes["quota_per_minute"] = quota_per_minute
        changes["expires_at"] = expires_at
    source = request.state
    await _move(session, request, source, target, step, changes)
    session.add(
        AccessEvent(
            request_id=request.id,
            step=step,
            actor_id=caller.id,
            actor_user_id=caller.user_id,
            from_state=source,
            to_state=target,
            reason=reason,
        )
    )
    await session.flush()
    service = await session.get_one(Service, request.service_id)
    return StepTaken(
        await view(session, request),
        step,
        source,
        target,
        publisher.name,
        service.name,
        request.major,
    )


async def _move(
    session: AsyncSession,
    request: AccessRequest,
    source: str,
    target: str,
    step: Step,
    changes: dict[str, Any],
) -> None:
    """Move ``request`` from ``source`` to ``target`` if no one else moved it first.

    A conditional update checked by its row count, not the ``FOR UPDATE`` of
    :func:`_load` alone: SQLite ignores ``FOR UPDATE``, so two replicas could both read
    ``suspended``, and a resume written after a revoke would bring the grant back.
    """
    moved = await session.execute(
        update(AccessRequest)
        .where(AccessRequest.id == request.id, AccessRequest.state == source)
        .values(state=target, updated_at=utcnow(), **changes)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(request)
        raise Problem(
            409,
            f"cannot {step} access request {request.id}: it changed from {source} to "
            f"{request.state} meanwhile; read it again and retry if still needed",
            kind="illegal-step",
            state=request.state,
        )
    await session.refresh(request)


def _check_protected_grant(
    group: ServiceMajor, expires_at: datetime | None, quota: int | None, max_days: int
) -> None:
    missing = [n for n, v in (("expires_at", expires_at), ("quota_per_minute", quota)) if v is None]
    if missing:
        raise Problem(
            422,
            f"{group.ref} holds {group.current.classification} data: a grant needs "
            f"{' and '.join(missing)} (an expiry at most {max_days} days away, and a quota)",
            kind="data-protection",
            missing=missing,
        )
    assert expires_at is not None
    if expires_at > utcnow() + timedelta(days=max_days):
        raise Problem(
            422,
            f"a grant to {group.current.classification} data runs at most {max_days} days; "
            "it is re-certified after that",
            kind="data-protection",
            max_days=max_days,
        )


def _check_fields(group: ServiceMajor, fields: list[str], operations: list[str] | None) -> None:
    """Every granted operation must answer an object or a list of objects (a field list
    means nothing for any other reply, and the adapter would answer every call with a
    500), and every field must be a response property of a granted operation."""
    descriptor = group.descriptor()
    names = operations if operations is not None else list(descriptor.operations)
    shapeless = sorted(op for op in names if not descriptor.answers_objects(op))
    if shapeless:
        raise Problem(
            422,
            f"operations {', '.join(shapeless)} do not answer an object or a list of objects "
            "(their response schema has no type: object): a field list cannot apply to them; "
            "grant them without fields, or in a grant of their own",
            kind="fields-not-applicable",
            operations=shapeless,
        )
    known = set().union(*(descriptor.response_fields(op) for op in names))
    unknown = sorted(set(fields) - known)
    if unknown:
        raise Problem(
            422,
            f"fields {', '.join(unknown)} are not in the response of the granted operations "
            f"({', '.join(sorted(known)) or 'none named'})",
        )


async def _load(session: AsyncSession, request_id: int, for_update: bool = False) -> AccessRequest:
    query = select(AccessRequest).where(AccessRequest.id == request_id)
    if for_update:
        query = query.with_for_update()
    request = await session.scalar(query)
    if request is None:
        raise Problem(404, f"no access request {request_id}")
    return request


async def _publisher_of(session: AsyncSession, request: AccessRequest) -> Party:
    return (
        await session.execute(
            select(Party)
            .join(Service, Service.publisher_id == Party.id)
            .where(Service.id == request.service_id)
        )
    ).scalar_one()


async def _group_of(session: AsyncSession, request: AccessRequest) -> ServiceMajor:
    publisher = await _publisher_of(session, request)
    service = await session.get_one(Service, request.service_id)
    return await find_service(session, ServiceRef(publisher.name, service.name, request.major))


def _visible_to(query: Select[Any], caller: Caller) -> Select[Any]:
    if caller.has("administrator", "monitor"):
        return query
    return query.where(
        or_(AccessRequest.requester_id == caller.id, Service.publisher_id == caller.id)
    )


def _base_query() -> Select[Any]:
    return select(AccessRequest).join(Service, Service.id == AccessRequest.service_id)


async def visible_request(session: AsyncSession, caller: Caller, request_id: int) -> AccessRequest:
    """The request if the caller may see it: 404 when it does not exist, 403 when not theirs."""
    request = await _load(session, request_id)
    query = _visible_to(_base_query().where(AccessRequest.id == request_id), caller)
    if await session.scalar(query) is None:
        raise Problem(
            403, f"access request {request_id} is neither {caller.name}'s nor for its services"
        )
    return request


async def list_requests(
    session: AsyncSession,
    caller: Caller,
    state: str | None = None,
    service: ServiceRef | None = None,
) -> list[dict[str, Any]]:
    query = _visible_to(_base_query(), caller).order_by(AccessRequest.id)
    if state:
        query = query.where(AccessRequest.state == state)
    requests = (await session.scalars(query)).all()
    views = [await view(session, r) for r in requests]
    if service is not None:
        views = [v for v in views if v["service"] == str(service)]
    return views


async def history(session: AsyncSession, caller: Caller, request_id: int) -> list[dict[str, Any]]:
    await visible_request(session, caller, request_id)
    rows = await session.execute(
        select(AccessEvent, Party.name, User.email)
        .join(Party, Party.id == AccessEvent.actor_id)
        .outerjoin(User, User.id == AccessEvent.actor_user_id)
        .where(AccessEvent.request_id == request_id)
        .order_by(AccessEvent.id)
    )
    return [
        {
            "step": event.step,
            "actor": actor,
            "person": person,
            "at": event.at,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "reason": event.reason,
        }
        for event, actor, person in rows.all()
    ]


async def view(session: AsyncSession, request: AccessRequest) -> dict[str, Any]:
    group = await _group_of(session, request)
    requester = await session.get_one(Party, request.requester_id)
    return {
        "id": request.id,
        "requester": requester.name,
        "service": str(group.ref),
        "theme": group.theme,
        "operations": request.operations,
        "reason": request.reason,
        "state": request.state,
        "quota_per_minute": request.quota_per_minute,
        "expires_at": request.expires_at,
        "created_at": request.created_at,
        "updated_at": request.updated_at,
        "purpose": request.purpose,
        "legal_basis": request.legal_basis,
        "contact": request.contact,
        "data_protection_note": request.data_protection_note,
        "fields": request.fields,
        "expires_wanted": request.expires_wanted,
    }


def _grant(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": view["id"],
        "requester": view["requester"],
        "service": view["service"],
        "theme": view["theme"],
        "operations": view["operations"],
        "quota_per_minute": view["quota_per_minute"],
        "expires_at": view["expires_at"],
        "fields": view["fields"],
    }


async def active_grants(
    session: AsyncSession, *, service: ServiceMajor | None = None, requester_id: int | None = None
) -> list[dict[str, Any]]:
    """Grants in force (state granted, not expired), for a service or for a requester."""
    query = _base_query().where(AccessRequest.state == "granted").order_by(AccessRequest.id)
    if service is not None:
        query = query.where(
            AccessRequest.service_id == service.service.id,
            AccessRequest.major == service.versions[0].major,
        )
    if requester_id is not None:
        query = query.where(AccessRequest.requester_id == requester_id)
    now = utcnow()
    grants = []
    for request in (await session.scalars(query)).all():
        if request.expires_at is not None and request.expires_at <= now:
            continue
        grants.append(_grant(await view(session, request)))
    return grants


async def expiring_grants(
    session: AsyncSession, caller: Caller, within_days: int
) -> list[dict[str, Any]]:
    """Grants in force that end within ``within_days`` days, for re-certification: all of
    them for administrators and monitors, else the caller's own and those of its services."""
    query = _visible_to(expiring_query(within_days), caller)
    return [await expiring_view(session, r) for r in (await session.scalars(query)).all()]


def expiring_query(within_days: int, now: datetime | None = None) -> Select[Any]:
    """The requests whose grant is in force and ends within ``within_days`` days of
    ``now``, soonest first."""
    now = now or utcnow()
    return (
        _base_query()
        .where(
            AccessRequest.state == "granted",
            AccessRequest.expires_at.is_not(None),
            AccessRequest.expires_at > now,
            AccessRequest.expires_at <= now + timedelta(days=within_days),
        )
        .order_by(AccessRequest.expires_at, AccessRequest.id)
    )


async def expiring_view(session: AsyncSession, request: AccessRequest) -> dict[str, Any]:
    """A grant to re-certify as the API shows it: the grant and its publisher."""
    view_ = await view(session, request)
    return {**_grant(view_), "publisher": str(view_["service"]).split(".", 1)[0]}
