"""Authentication (a machine's bearer token, or a person's portal session cookie) and the
role check every route declares.

>>> @router.get("/parties")  # doctest: +SKIP
... async def list_parties(caller: Annotated[Caller, Depends(allow("administrator", "monitor"))]):
...     ...

A missing or unknown token is a 401 problem, a caller without one of the roles a 403. A
person holds only the roles their account was given, within the party's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from splp.directory_service.logins import COOKIE, session_caller
from splp.directory_service.parties import Caller, acting_person, authenticate
from splp.directory_service.store import Store
from splp.vocabulary import ROLES
from splp.web.csrf import CSRF_HEADER, csrf_matches
from splp.web.problems import Problem

bearer = HTTPBearer(auto_error=False, description="The party's directory API token.")


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def session_for(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request; routes that change the store commit before they answer,
    so a client never sees an answer before its change is durable."""
    async with store_of(request).sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(session_for)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def current_caller(
    request: Request,
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The party behind a bearer token (a machine), or the person behind a portal session
    cookie; a cookie's request that changes something must carry the session's CSRF token."""
    caller: Caller | None
    if credentials is not None and credentials.credentials:
        caller = await _token_caller(session, credentials.credentials)
    elif cookie := request.cookies.get(COOKIE):
        caller = await session_caller(session, cookie)
        if caller is None:
            raise Problem(401, "the session has ended: log in again")
        if request.method not in SAFE_METHODS and not csrf_matches(
            cookie, request.headers.get(CSRF_HEADER)
        ):
            raise Problem(403, f"send the session's CSRF token in the {CSRF_HEADER} header")
    else:
        raise Problem(401, "send the party's API token as 'Authorization: Bearer TOKEN'")
    acting_person.set(caller.person)
    return caller


async def _token_caller(session: AsyncSession, token: str) -> Caller:
    if len(token) > 200 or not token.isascii():
        raise Problem(401, "unknown or revoked API token")
    caller = await authenticate(session, token)
    if caller is None:
        raise Problem(401, "unknown or revoked API token")
    return caller


def allow(*roles: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets through callers holding at least one of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    wanted = " or ".join(roles)

    async def check(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if not caller.has(*roles):
            raise Problem(403, f"this needs the role {wanted}; {caller.name} has {_roles(caller)}")
        return caller

    return check


def _roles(caller: Caller) -> str:
    return ", ".join(sorted(caller.roles)) or "no role"
