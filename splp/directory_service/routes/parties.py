"""Routes for parties and their roles (administrators manage them; monitors read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from splp.db import utcnow
from splp.directory_service.auth import Session
from splp.directory_service.bodies import BrokerCredentials, PartyCreated, PartyIn, PartyOut
from splp.directory_service.broker import BrokerReconciler, new_password, password_hash
from splp.directory_service.broker.state import vhost_tag
from splp.directory_service.models import Party
from splp.directory_service.parties import create_party, party_named, rotate_tokens
from splp.directory_service.routes.common import (
    Administrator,
    Anyone,
    Supervisor,
    events_of,
    problems,
    reconcile_broker,
)
from splp.web.problems import Problem

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
    """Register an agency or application with its roles; the answer holds its token, once.

    A broker user of that name that SPLP does not manage (created by hand, or by another
    system) is a 409: SPLP never touches it, so the party could never log in.
    """
    user = request.app.state.settings.broker_user_prefix + body.name
    reconciler: BrokerReconciler = request.app.state.broker
    if await reconciler.unmanaged_user(user):
        raise Problem(
            409,
            f"broker user {user} exists and is not managed by SPLP (it lacks the tag "
            f"{vhost_tag(reconciler.names.vhost)}): SPLP leaves it alone, so the party could "
            "not log in to the broker. Choose another name, or delete or rename that user.",
        )
    party, token = await create_party(session, body.name, list(body.roles), body.title)
    password = new_password()
    party.broker_password_hash = password_hash(password)
    party.broker_password_set_at = utcnow()
    events_of(request).emit(
        session, "admin.party-added", actor=caller.name, party=party.name, roles=party.roles
    )
    await session.commit()
    await reconcile_broker(request)
    return {
        "party": party_view(party),
        "token": token,
        "broker_user": broker_user(request, party),
        "broker_password": password,
    }


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
    events_of(request).emit(session, "admin.token-rotated", actor=caller.name, party=party.name)
    await session.commit()
    return {"party": party_view(party), "token": token}


@router.post(
    "/parties/{name}/broker-password", response_model=BrokerCredentials, responses=problems(404)
)
async def new_broker_password(
    name: Annotated[str, Path(max_length=63)],
    caller: Administrator,
    session: Session,
    request: Request,
) -> Any:
    """Issue a new broker password (shown once); the old one stops working and the party's
    open broker connections are closed."""
    party = await party_named(session, name)
    password = new_password()
    party.broker_password_hash = password_hash(password)
    party.broker_password_set_at = utcnow()
    events_of(request).emit(
        session, "admin.broker-password-rotated", actor=caller.name, party=party.name
    )
    await session.commit()
    await reconcile_broker(request)
    return {
        "party": party_view(party),
        "broker_user": broker_user(request, party),
        "broker_password": password,
    }


def broker_user(request: Request, party: Party) -> str:
    prefix: str = request.app.state.settings.broker_user_prefix
    return prefix + party.name


@router.get("/me", response_model=PartyOut, responses=problems())
async def whoami(caller: Anyone, session: Session) -> Any:
    """The calling party."""
    return party_view(await session.get_one(Party, caller.id))
