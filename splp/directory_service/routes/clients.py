"""Routes for a party's applications and their client credentials (the HTTP gateway's callers).

An administrator or the party itself adds and revokes them; monitors may list them too.
Secrets are in the answer that creates them and nowhere else.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from splp.directory_service.applications import (
    add_application,
    list_applications,
    revoke_application,
    rotate_secret,
    view,
)
from splp.directory_service.auth import Session, current_caller
from splp.directory_service.bodies import ApplicationCreated, ApplicationIn, ApplicationOut
from splp.directory_service.models import Party
from splp.directory_service.parties import Caller, party_named
from splp.directory_service.routes.common import events_of, problems
from splp.web.problems import Problem

router = APIRouter(tags=["applications"])

PartyName = Annotated[str, Path(max_length=63, description="The party, e.g. dinsos.")]
ClientId = Annotated[str, Path(max_length=40, description="The application's client id.")]


def _party_or(*roles: str) -> Any:
    """A dependency: the caller is the party named in the path, or holds one of ``roles``."""

    async def check(name: PartyName, caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if caller.name != name and not caller.has(*roles):
            raise Problem(
                403,
                f"this needs the role {' or '.join(roles)}, or to be {name} itself; "
                f"{caller.name} is neither",
            )
        return caller

    return Depends(check)


Manager = Annotated[Caller, _party_or("administrator")]
Reader = Annotated[Caller, _party_or("administrator", "monitor")]


@router.post(
    "/parties/{name}/clients",
    status_code=201,
    response_model=ApplicationCreated,
    responses=problems(404, 409, 422),
)
async def add_client(
    name: PartyName, body: ApplicationIn, caller: Manager, session: Session, request: Request
) -> Any:
    """Register an application of a requester party; the answer holds its client secret
    (and API key, when asked for), once."""
    party = await party_named(session, name)
    issued = await add_application(session, party, body.name, api_key=body.api_key)
    events_of(request).emit(
        session,
        "admin.client-added",
        actor=caller.name,
        party=party.name,
        application=body.name,
        client_id=issued.application.client_id,
        with_api_key=issued.api_key is not None,
    )
    await session.commit()
    return {
        "party": party.name,
        "name": body.name,
        "client_id": issued.application.client_id,
        "client_secret": issued.client_secret,
        "api_key": issued.api_key,
    }


@router.get("/parties/{name}/clients", response_model=list[ApplicationOut], responses=problems(404))
async def list_clients(
    name: PartyName, caller: Reader, session: Session, revoked: bool = False
) -> Any:
    """The party's active applications, and its revoked ones with ``revoked=true`` (no
    secrets, no hashes)."""
    party = await party_named(session, name)
    return await list_applications(session, party, include_revoked=revoked)


@router.post(
    "/parties/{name}/clients/{client_id}/secret",
    response_model=ApplicationCreated,
    responses=problems(404, 409),
)
async def rotate_client_secret(
    name: PartyName, client_id: ClientId, caller: Manager, session: Session, request: Request
) -> Any:
    """Replace an application's client secret; the answer holds the new one, once. The old
    secret stops working at the gateway's next refresh; tokens issued with it last until
    they expire. An API key is not changed."""
    party: Party = await party_named(session, name)
    issued = await rotate_secret(session, party, client_id)
    events_of(request).emit(
        session,
        "admin.client-rotated",
        actor=caller.name,
        party=party.name,
        application=issued.application.name,
        client_id=client_id,
    )
    await session.commit()
    return {
        "party": party.name,
        "name": issued.application.name,
        "client_id": client_id,
        "client_secret": issued.client_secret,
        "api_key": None,
    }


@router.delete(
    "/parties/{name}/clients/{client_id}",
    response_model=ApplicationOut,
    responses=problems(404, 409),
)
async def revoke_client(
    name: PartyName, client_id: ClientId, caller: Manager, session: Session, request: Request
) -> Any:
    """Revoke an application: its secret and API key leave ``GET /gateway/credentials``,
    so the gateway refuses them from its next refresh on."""
    party: Party = await party_named(session, name)
    application = await revoke_application(session, party, client_id)
    events_of(request).emit(
        session,
        "admin.client-revoked",
        actor=caller.name,
        party=party.name,
        application=application.name,
        client_id=application.client_id,
    )
    await session.commit()
    return view(application, party.name)
