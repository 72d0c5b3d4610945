"""The supervision report and the follow-ups of misuse hits (Bungo Pasal 8(5)b, 8(6)).

* ``GET /supervision/report?period=2026-S2`` - the checklist per OD and the misuse hits
  with their follow-ups (administrators and monitors);
* ``GET /supervision/hits?period=...`` - the hits alone;
* ``POST /supervision/hits/{id}/notes`` - record a follow-up (administrators), audited as
  ``admin.supervision-note`` (the event names the hit, not the text).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from splp.directory_service.auth import Session
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.routes.common import Administrator, Supervisor, events_of, problems
from splp.directory_service.supervision import add_note, hits_between
from splp.directory_service.supervision_report import Period, supervision_report
from splp.errors import SplpError
from splp.log import get_logger
from splp.web.problems import Problem

router = APIRouter(prefix="/supervision", tags=["supervision"])
log = get_logger("directory.supervision")

PeriodQuery = Annotated[
    str,
    Query(
        max_length=10,
        pattern=r"^\d{4}(-(S[12]|\d{2}))?$",
        description="2026 (a year), 2026-S2 (a semester) or 2026-11 (a month), in WIB.",
    ),
]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise Problem(422, str(exc)) from None


async def _drift(request: Request) -> list[str] | None:
    reconciler: BrokerReconciler = request.app.state.broker
    try:
        status = await reconciler.status()
    except (SplpError, OSError) as exc:
        log.warning("supervision report: broker state unreadable: %s", type(exc).__name__)
        return None
    return list(status.plan.changes)


@router.get("/report", responses=problems(422))
async def report(
    period: PeriodQuery, caller: Supervisor, session: Session, request: Request
) -> dict[str, Any]:
    """The supervision checklist per OD for the period, and the misuse hits of the period
    with their follow-ups."""
    settings = request.app.state.settings
    return await supervision_report(
        session,
        _period(period),
        rotation_days=settings.rotation_days,
        user_prefix=settings.broker_user_prefix,
        drift=await _drift(request),
    )


@router.get("/hits", responses=problems(422))
async def hits(period: PeriodQuery, caller: Supervisor, session: Session) -> list[dict[str, Any]]:
    """The misuse hits whose window ended in the period, with their follow-ups."""
    chosen = _period(period)
    return await hits_between(session, chosen.since, chosen.until)


@router.post("/hits/{hit_id}/notes", status_code=201, responses=problems(404, 422))
async def note(
    hit_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: NoteIn,
    caller: Administrator,
    session: Session,
    request: Request,
) -> dict[str, Any]:
    """Record a follow-up of a misuse hit (what was checked, decided, done)."""
    made = await add_note(session, events_of(request), caller, hit_id, body.text)
    await session.commit()
    return made
