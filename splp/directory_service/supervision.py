"""Misuse hits kept for review, the grants they suspend, and the follow-ups recorded for
them (Bungo Pasal 8(5)b and 8(6)).

The rules themselves read the audit store (:mod:`splp.audit.misuse`); the control plane
hands each hit here as plain values (:class:`HitIn`), so this package never reads the
audit trail. A hit is kept once (by its key) and not raised again while an earlier hit of
the same rule, requester, service and operation covers part of its window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.bus.names import ServiceRef
from splp.directory_service.access import StepTaken, take_step
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.models import (
    AccessRequest,
    MisuseHit,
    Party,
    Service,
    SupervisionNote,
    User,
)
from splp.directory_service.parties import Caller
from splp.web.problems import Problem

ACTOR = "splp-misuse-rules"
"""The ``actor`` of a hit's audit event: the rules, not a person."""


@dataclass(frozen=True)
class HitIn:
    key: str
    rule: str
    requester: str
    since: datetime
    until: datetime
    service: str | None = None
    operation: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    suspend: bool = False


@dataclass
class Raised:
    """A hit just stored, and the suspensions it caused (committed with it)."""

    hit: dict[str, Any]
    suspended: list[StepTaken]


def _scalar_figures(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in figures.items()
        if isinstance(value, str | int | float | bool)
        or (isinstance(value, list) and all(isinstance(v, str | int | float) for v in value))
    }


def hit_view(hit: MisuseHit, notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view = {
        "id": hit.id,
        "rule": hit.rule,
        "requester": hit.requester,
        "service": hit.service,
        "operation": hit.operation,
        "since": hit.since,
        "until": hit.until,
        "figures": hit.figures,
        "suspended": hit.suspended,
        "created_at": hit.created_at,
    }
    if notes is not None:
        view["follow_ups"] = notes
    return view


async def _overlapping(session: AsyncSession, hit: HitIn) -> bool:
    query = select(MisuseHit.id).where(
        MisuseHit.rule == hit.rule,
        MisuseHit.requester == hit.requester,
        MisuseHit.until > hit.since,
    )
    query = query.where(
        MisuseHit.service == hit.service if hit.service else MisuseHit.service.is_(None),
        MisuseHit.operation == hit.operation if hit.operation else MisuseHit.operation.is_(None),
    )
    return (await session.scalar(query.limit(1))) is not None


async def _grants_of(session: AsyncSession, party: str, service: str) -> list[int]:
    try:
        ref = ServiceRef.parse(service)
    except ValueError:
        return []
    publisher = Party.__table__.alias("publisher")
    rows = await session.scalars(
        select(AccessRequest.id)
        .join(Party, Party.id == AccessRequest.requester_id)
        .join(Service, Service.id == AccessRequest.service_id)
        .join(publisher, publisher.c.id == Service.publisher_id)
        .where(
            Party.name == party,
            publisher.c.name == ref.publisher,
            Service.name == ref.service,
            AccessRequest.major == ref.major,
            AccessRequest.state == "granted",
        )
        .order_by(AccessRequest.id)
    )
    return list(rows)


async def system_administrator(session: AsyncSession) -> Caller | None:
    """The first administrator party: the actor of automatic suspensions."""
    parties = await session.scalars(select(Party).order_by(Party.id))
    for party in parties:
        if "administrator" in party.roles:
            return Caller(party.id, party.name, frozenset(party.roles))
    return None


async def raise_hit(
    session: AsyncSession, events: DirectoryEvents, hit: HitIn, user_prefix: str = ""
) -> Raised | None:
    """Store ``hit`` and emit its ``admin.misuse-hit`` event; suspend the requester's grant
    of the service when the rule says so. ``None`` if it was raised already. The caller
    commits."""
    if await session.scalar(select(MisuseHit.id).where(MisuseHit.key == hit.key)) is not None:
        return None
    if await _overlapping(session, hit):
        return None
    row = MisuseHit(
        key=hit.key,
        rule=hit.rule,
        requester=hit.requester,
        service=hit.service,
        operation=hit.operation,
        since=hit.since,
        until=hit.until,
        figures=hit.figures,
        suspended=[],
    )
    session.add(row)
    await session.flush()
    taken: list[StepTaken] = []
    party = hit.requester.removeprefix(user_prefix) if user_prefix else hit.requester
    admin = await system_administrator(session) if hit.suspend and hit.service else None
    if admin is not None and hit.service:
        for request_id in await _grants_of(session, party, hit.service):
            reason = f"misuse rule {hit.rule} (hit {row.id}): suspended pending review"
            step = await take_step(session, admin, request_id, "suspend", reason)
            taken.append(step)
            events.emit(
                session,
                "access.suspend",
                actor=ACTOR,
                theme=step.request["theme"],
                publisher=step.publisher,
                service=step.service,
                major=step.major,
                requester=step.request["requester"],
                request_id=request_id,
                from_state=step.from_state,
                to_state=step.to_state,
                hit_id=row.id,
            )
        row.suspended = [int(t.request["id"]) for t in taken]
    ref = ServiceRef.parse(hit.service) if hit.service else None
    events.emit(
        session,
        "admin.misuse-hit",
        actor=ACTOR,
        hit_id=row.id,
        rule=hit.rule,
        requester=hit.requester,
        publisher=ref.publisher if ref else None,
        service=ref.service if ref else None,
        major=ref.major if ref else None,
        operation=hit.operation,
        window_start=hit.since.isoformat(),
        window_end=hit.until.isoformat(),
        suspended=row.suspended,
        **_scalar_figures(hit.figures),
    )
    await session.flush()
    return Raised(hit_view(row), taken)


async def add_note(
    session: AsyncSession, events: DirectoryEvents, caller: Caller, hit_id: int, text: str
) -> dict[str, Any]:
    """Record a follow-up of hit ``hit_id``; its audit event names the hit, not the text
    (which may name a person). The caller commits."""
    hit = await session.get(MisuseHit, hit_id)
    if hit is None:
        raise Problem(404, f"no misuse hit {hit_id}")
    note = SupervisionNote(
        hit_id=hit_id, text=text, author_id=caller.id, author_user_id=caller.user_id
    )
    session.add(note)
    await session.flush()
    events.emit(
        session,
        "admin.supervision-note",
        actor=caller.name,
        hit_id=hit_id,
        note_id=note.id,
        rule=hit.rule,
        requester=hit.requester,
    )
    return {"id": note.id, "hit_id": hit_id, "text": text, "author": caller.name, "at": note.at}


async def hits_between(
    session: AsyncSession, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The hits whose window ended in ``[since, until)``, each with its follow-ups."""
    hits = (
        await session.scalars(
            select(MisuseHit)
            .where(MisuseHit.until >= since, MisuseHit.until < until)
            .order_by(MisuseHit.id)
        )
    ).all()
    notes: dict[int, list[dict[str, Any]]] = {h.id: [] for h in hits}
    if hits:
        rows = await session.execute(
            select(SupervisionNote, Party.name, User.email)
            .join(Party, Party.id == SupervisionNote.author_id)
            .outerjoin(User, User.id == SupervisionNote.author_user_id)
            .where(SupervisionNote.hit_id.in_(list(notes)))
            .order_by(SupervisionNote.id)
        )
        for note, author, person in rows.all():
            notes[note.hit_id].append(
                {
                    "id": note.id,
                    "text": note.text,
                    "author": author,
                    "person": person,
                    "at": note.at,
                }
            )
    return [hit_view(h, notes[h.id]) for h in hits]
