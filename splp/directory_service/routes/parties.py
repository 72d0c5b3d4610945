"""Routes for parties and their roles (administrators manage them; monitors read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from splp.directory_service.auth import Session
from splp.directory_service.bodies import PartyCreated, PartyIn, PartyOut
from splp.directory_service.models import Party
from splp.directory_service.parties import create_party, party_named, rotate_tokens
from splp.directory_service.routes.common import (
    Administrator,
    Anyone,
    Supervisor,
    audit_of,
    problems,
)

router = APIRouter(tags=["parties"])


def party_view(party: Party) -> dict[str, Any]:
    return {
        "name": party.name,
        "title": party.title,
        "roles": party.roles,
        "created_at": party.created_at,
    }


@router.post("/parties", status_code=201, response_model=PartyCreated, responses=problems(409, 422))
async def add_party(
    body: PartyIn, caller: Administrator, session: Session, request: Request
) -> Any:
    """Register an agency or application with its roles; the answer holds its token, once."""
    party, token = await create_party(session, body.name, list(body.roles), body.title)
    await session.commit()
    audit_of(request).emit(
        "admin.party-added", actor=caller.name, party=party.name, roles=party.roles
    )
    return {"party": party_view(party), "token": token}


@router.get("/parties", response_model=list[PartyOut], responses=problems())
async def list_parties(caller: Supervisor, session: Session) -> Any:
    """Every party with its roles."""
    return [
        party_view(p) for p in (await session.scalars(select(Party).order_by(Party.name))).all()
    ]


@router.get("/parties/{name}", response_model=PartyOut, responses=problems(404))
async def show_party(
    name: Annotated[str, Path(max_length=63)], caller: Supervisor, session: Session
) -> Any:
    """One party."""
    return party_view(await party_named(session, name))


@router.post("/parties/{name}/token", response_model=PartyCreated, responses=problems(404))
async def new_token(
    name: Annotated[str, Path(max_length=63)],
    caller: Administrator,
    session: Session,
    request: Request,
) -> Any:
    """Revoke the party's tokens and issue a new one (shown once)."""
    party = await party_named(session, name)
    token = await rotate_tokens(session, party)
    await session.commit()
    audit_of(request).emit("admin.token-rotated", actor=caller.name, party=party.name)
    return {"party": party_view(party), "token": token}


@router.get("/me", response_model=PartyOut, responses=problems())
async def whoami(caller: Anyone, session: Session) -> Any:
    """The calling party."""
    return party_view(await session.get_one(Party, caller.id))
