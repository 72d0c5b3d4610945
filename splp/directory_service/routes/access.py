"""Routes of the access procedure (Pasal 7): request, approve, grant... and the grants."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from splp.bus.names import SERVICE_REF_PATTERN
from splp.directory_service import access
from splp.directory_service.access import Statement, StepTaken
from splp.directory_service.auth import Session, allow
from splp.directory_service.bodies import (
    AccessEventOut,
    AccessRequestIn,
    AccessRequestOut,
    ExpiringGrant,
    GrantIn,
    GrantOut,
    StepIn,
)
from splp.directory_service.catalog import parse_ref
from splp.directory_service.notify import Notifier
from splp.directory_service.notify import Step as NotifiedStep
from splp.directory_service.parties import Caller
from splp.directory_service.recertification import notify_expiring
from splp.directory_service.routes.common import (
    Administrator,
    Anyone,
    Requester,
    RequestId,
    events_of,
    problems,
    reconcile_broker,
    with_etag,
)
from splp.vocabulary import AccessState

router = APIRouter(tags=["access"])

Decider = Annotated[Caller, Depends(allow("administrator", "publisher"))]


class OtherStep(StrEnum):
    """Steps that carry only a reason (``grant`` has its own route)."""

    approve = "approve"
    reject = "reject"
    decline = "decline"
    revoke = "revoke"
    suspend = "suspend"
    resume = "resume"


def notify(request: Request, taken: StepTaken) -> None:
    """Tell whoever acts next, once the step is committed (:mod:`..notify`)."""
    notifier: Notifier = request.app.state.notifier
    notifier.after(
        NotifiedStep(
            taken.step,
            int(taken.request["id"]),
            taken.request["service"],
            taken.request["requester"],
            taken.publisher,
        )
    )


def emit(request: Request, session: AsyncSession, caller: Caller, taken: StepTaken) -> None:
    """The ``access.<step>`` audit event, in the step's transaction: metadata only, the
    reason stays in the store."""
    events_of(request).emit(
        session,
        f"access.{taken.step}",
        actor=caller.name,
        theme=taken.request["theme"],
        publisher=taken.publisher,
        service=taken.service,
        major=taken.major,
        requester=taken.request["requester"],
        request_id=taken.request["id"],
        from_state=taken.from_state,
        to_state=taken.to_state,
    )


@router.post(
    "/access-requests",
    status_code=201,
    response_model=AccessRequestOut,
    responses=problems(409, 422),
)
async def request_access(
    body: AccessRequestIn, caller: Requester, session: Session, request: Request
) -> Any:
    """Apply, as the calling requester, for access to a service (some or all operations).

    A ``personal`` or ``sensitive`` service needs ``purpose``, ``legal_basis`` and
    ``contact`` (UU 27/2022): without them, a 422 names the missing members.
    ``expires_wanted`` (optional) must be in the future and, for such a service, at most
    ``SPLP_PERSONAL_GRANT_MAX_DAYS`` away; the publisher still decides the expiry."""
    statement = Statement(body.purpose, body.legal_basis, body.contact)
    taken = await access.submit(
        session,
        caller,
        parse_ref(body.service, 422),
        body.operations,
        body.reason,
        statement,
        expires_wanted=body.expires_wanted,
        max_grant_days=request.app.state.settings.personal_grant_max_days,
    )
    emit(request, session, caller, taken)
    await session.commit()
    notify(request, taken)
    await reconcile_broker(request)
    return taken.request


@router.get("/access-requests", response_model=list[AccessRequestOut], responses=problems())
async def list_access_requests(
    caller: Anyone,
    session: Session,
    state: AccessState | None = None,
    service: Annotated[str | None, Query(pattern=SERVICE_REF_PATTERN, max_length=140)] = None,
) -> Any:
    """Requests the caller may see: all for administrators and monitors, else its own and
    those for its services."""
    return await access.list_requests(
        session, caller, state, parse_ref(service) if service else None
    )


@router.get(
    "/access-requests/{request_id}", response_model=AccessRequestOut, responses=problems(404)
)
async def show_access_request(request_id: RequestId, caller: Anyone, session: Session) -> Any:
    """One request."""
    return await access.view(session, await access.visible_request(session, caller, request_id))


@router.get(
    "/access-requests/{request_id}/history",
    response_model=list[AccessEventOut],
    responses=problems(404),
)
async def access_request_history(request_id: RequestId, caller: Anyone, session: Session) -> Any:
    """Every step of a request: actor, time, states and reason."""
    return await access.history(session, caller, request_id)


@router.post(
    "/access-requests/{request_id}/grant",
    response_model=AccessRequestOut,
    responses=problems(404, 409, 422),
)
async def grant_access(
    request_id: RequestId, body: GrantIn, caller: Decider, session: Session, request: Request
) -> Any:
    """Grant an approved request (the publisher that owns the service), with an optional
    quota, expiry, a narrower list of operations and the response fields it allows.
    A grant to a ``personal`` or ``sensitive`` service needs a quota and an expiry at
    most ``SPLP_PERSONAL_GRANT_MAX_DAYS`` away."""
    taken = await access.take_step(
        session,
        caller,
        request_id,
        "grant",
        body.reason,
        quota_per_minute=body.quota_per_minute,
        expires_at=body.expires_at,
        operations=body.operations,
        fields=body.fields,
        max_grant_days=request.app.state.settings.personal_grant_max_days,
    )
    emit(request, session, caller, taken)
    await session.commit()
    notify(request, taken)
    await reconcile_broker(request)
    return taken.request


@router.post(
    "/access-requests/{request_id}/{step}",
    response_model=AccessRequestOut,
    responses=problems(404, 409, 422),
)
async def step_access(
    request_id: RequestId,
    step: OtherStep,
    body: StepIn,
    caller: Decider,
    session: Session,
    request: Request,
) -> Any:
    """Take a step: approve or reject (administrator); decline (owning publisher); revoke,
    suspend or resume (administrator or owning publisher). An illegal step is a 409.
    Approving access to a ``personal`` or ``sensitive`` service records the administrator's
    ``data_protection_note`` (required)."""
    taken = await access.take_step(
        session,
        caller,
        request_id,
        step.value,
        body.reason,
        data_protection_note=body.data_protection_note,
    )
    emit(request, session, caller, taken)
    await session.commit()
    notify(request, taken)
    await reconcile_broker(request)
    return taken.request


def _within(request: Request, days: int | None) -> int:
    return days if days is not None else int(request.app.state.settings.recertify_days)


Days = Annotated[int | None, Query(ge=1, le=3650, description="Default SPLP_RECERTIFY_DAYS.")]


@router.get(
    "/access-grants/expiring",
    response_model=list[ExpiringGrant],
    responses=problems(),
    tags=["grants"],
)
async def expiring_grants(
    caller: Anyone, session: Session, request: Request, days: Days = None
) -> Any:
    """Grants that expire within ``days`` (default 30): to re-certify or let lapse. All of
    them for administrators and monitors, else the caller's own and its services'."""
    return await access.expiring_grants(session, caller, _within(request, days))


@router.post(
    "/access-grants/expiring/notify",
    response_model=list[ExpiringGrant],
    responses=problems(),
    tags=["grants"],
)
async def notify_expiring_grants(
    caller: Administrator, session: Session, request: Request, days: Days = None
) -> Any:
    """Tell the holders and publishers of the grants that expire within ``days``: one
    ``access.recertify`` audit event per grant, naming both, and an e-mail to their people
    when ``SPLP_SMTP_URL`` is set; each party also sees the list with
    ``GET /access-grants/expiring``. A grant is announced once per expiry date (the
    control plane also does it every ``SPLP_RECERTIFY_INTERVAL`` seconds): the answer
    lists the grants announced now, not those announced before."""
    return await notify_expiring(
        session,
        events_of(request),
        request.app.state.notifier,
        actor=caller.name,
        within_days=_within(request, days),
    )


@router.get("/me/grants", response_model=list[GrantOut], responses=problems(), tags=["grants"])
async def my_grants(caller: Requester, session: Session, request: Request) -> Response:
    """The grants in force for the calling requester (with an ETag)."""
    return with_etag(request, await access.active_grants(session, requester_id=caller.id))
