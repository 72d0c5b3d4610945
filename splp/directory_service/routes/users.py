"""Routes for people: accounts (administrators manage them, monitors read them), signing
in and out, setting a password from a one-time link, and the optional second factor.

Machines keep using the party's API tokens; a person signs in with ``POST /auth/login`` and
gets a session cookie (Secure, HttpOnly, SameSite=Strict) and a CSRF token to send as
``X-CSRF-Token`` with every request that changes something.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from splp.directory_service.auth import Session, current_caller
from splp.directory_service.bodies import (
    LoginIn,
    LoginOut,
    ResetIn,
    SetPasswordIn,
    TotpConfirmIn,
    TotpOut,
    UserIn,
    UserOut,
    UserSetup,
)
from splp.directory_service.logins import (
    COOKIE,
    Login,
    login,
    logout,
    new_totp_secret,
    purge_expired,
    totp_matches,
    totp_uri,
)
from splp.directory_service.parties import Caller, party_named
from splp.directory_service.routes.common import Administrator, Supervisor, events_of, problems
from splp.directory_service.set_password_page import page
from splp.directory_service.users import (
    add_user,
    disable_user,
    list_users,
    reset_password,
    set_password,
    user_named,
    user_view,
)
from splp.settings import Settings
from splp.web.problems import Problem

router = APIRouter(tags=["people"])

EmailPath = Annotated[str, Path(max_length=254, description="The person's e-mail address.")]
Person = Annotated[Caller, Depends(current_caller)]
SET_PASSWORD = "/auth/set-password"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _setup(request: Request, view: dict[str, Any], token: str, expires: datetime | None) -> Any:
    base = str(request.base_url).rstrip("/")
    return {
        "user": view,
        "setup_token": token,
        "setup_link": f"{base}{SET_PASSWORD}?token={quote(token)}",
        "expires_at": expires,
    }


@router.post("/users", status_code=201, response_model=UserSetup, responses=problems(404, 409, 422))
async def add_person(
    body: UserIn, caller: Administrator, session: Session, request: Request
) -> Any:
    """Add a person to a party with some of its roles; the answer holds a one-time
    set-password link (shown once: hand it to the person)."""
    party = await party_named(session, body.party)
    user, token = await add_user(
        session,
        party,
        body.email,
        body.name,
        list(body.roles),
        body.nip,
        settings_of(request).setup_link_ttl,
    )
    events_of(request).emit(
        session,
        "admin.user-added",
        actor=caller.name,
        party=party.name,
        user=user.email,
        roles=user.roles,
    )
    await session.commit()
    return _setup(request, user_view(user, party), token, user.setup_expires_at)


@router.get("/users", response_model=list[UserOut], responses=problems())
async def people(
    caller: Supervisor,
    session: Session,
    party: Annotated[str | None, Query(max_length=63, description="Only this party's.")] = None,
) -> Any:
    """Every person with their party, roles and state."""
    return await list_users(session, party)


@router.post("/users/{email}/disable", response_model=UserOut, responses=problems(404))
async def disable_person(
    email: EmailPath, caller: Administrator, session: Session, request: Request
) -> Any:
    """Disable an account for good and end its sessions (its history stays)."""
    user, party = await user_named(session, email)
    await disable_user(session, user)
    events_of(request).emit(
        session, "admin.user-disabled", actor=caller.name, party=party.name, user=user.email
    )
    await session.commit()
    return user_view(user, party)


@router.post(
    "/users/{email}/reset-password", response_model=UserSetup, responses=problems(404, 409)
)
async def reset_person(
    email: EmailPath,
    caller: Administrator,
    session: Session,
    request: Request,
    body: ResetIn | None = None,
) -> Any:
    """Forget a person's password (and unlock the account, end its sessions); the answer
    holds a new one-time set-password link."""
    user, party = await user_named(session, email)
    token = await reset_password(
        session, user, settings_of(request).setup_link_ttl, body.clear_totp if body else False
    )
    events_of(request).emit(
        session, "admin.password-reset", actor=caller.name, party=party.name, user=user.email
    )
    await session.commit()
    return _setup(request, user_view(user, party), token, user.setup_expires_at)


@router.post("/auth/login", response_model=LoginOut, responses=problems(401, 429))
async def sign_in(body: LoginIn, session: Session, request: Request, response: Response) -> Any:
    """Sign a person in: a new session cookie (any earlier one of this browser ends)."""
    settings = settings_of(request)
    if previous := request.cookies.get(COOKIE):
        await logout(session, previous)
    await purge_expired(session)
    outcome = await login(session, settings, body.email, body.password, body.code)
    if not isinstance(outcome, Login):
        if outcome.locked_now and outcome.user is not None:
            events_of(request).emit(
                session,
                "admin.login-locked",
                actor="directory",
                user=outcome.user.email,
                failures=settings.login_lock_after,
            )
        await session.commit()
        raise Problem(outcome.status, outcome.detail)
    events_of(request).emit(
        session, "admin.login", actor=outcome.party.name, person=outcome.user.email
    )
    await session.commit()
    response.set_cookie(
        COOKIE,
        outcome.cookie,
        max_age=int(settings.session_ttl),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return {
        "user": user_view(outcome.user, outcome.party),
        "csrf_token": outcome.csrf,
        "expires_at": outcome.expires_at,
    }


@router.post("/auth/logout", status_code=204, responses=problems())
async def sign_out(session: Session, request: Request, response: Response) -> None:
    """End this browser's session (the cookie is cleared as well)."""
    if cookie := request.cookies.get(COOKIE):
        await logout(session, cookie)
        await session.commit()
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")


@router.get("/auth/me", response_model=UserOut, responses=problems(401, 404))
async def me(caller: Person, session: Session) -> Any:
    """The signed-in person (a machine's token has no person: 404)."""
    if caller.person is None:
        raise Problem(404, "this is a machine's API token, not a person's session")
    user, party = await user_named(session, caller.person)
    return user_view(user, party)


@router.post(SET_PASSWORD, status_code=204, responses=problems(400, 422))
async def choose_password(body: SetPasswordIn, session: Session, request: Request) -> None:
    """Redeem a one-time set-password link with a new password (at least 12 characters)."""
    user = await set_password(session, body.token, body.password)
    events_of(request).emit(session, "admin.password-set", actor="directory", user=user.email)
    await session.commit()


@router.get(SET_PASSWORD, response_class=HTMLResponse, include_in_schema=False)
async def password_form(token: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    """The page a set-password link opens (no script, works without the portal)."""
    return page(token)


@router.post(f"{SET_PASSWORD}/form", response_class=HTMLResponse, include_in_schema=False)
async def password_form_sent(session: Session, request: Request) -> HTMLResponse:
    body = await request.body()
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    token = (fields.get("token") or [""])[0]
    password = (fields.get("password") or [""])[0]
    again = (fields.get("password_again") or [""])[0]
    if password != again:
        return page(token, error="Kedua isian kata sandi tidak sama.", status=422)
    try:
        user = await set_password(session, token, password)
    except Problem as exc:
        return page(token, error=exc.detail, status=exc.status)
    events_of(request).emit(session, "admin.password-set", actor="directory", user=user.email)
    await session.commit()
    return page("", done=True)


@router.post("/auth/totp", response_model=TotpOut, responses=problems(401, 404))
async def start_totp(caller: Person, session: Session) -> Any:
    """Start turning on a second factor: a secret for the authenticator app, effective once
    confirmed with a code from it."""
    if caller.person is None:
        raise Problem(404, "a second factor belongs to a person's account, not to a token")
    user, _party = await user_named(session, caller.person)
    user.totp_pending = new_totp_secret()
    await session.commit()
    return {"secret": user.totp_pending, "uri": totp_uri(user.totp_pending, user.email)}


@router.post("/auth/totp/confirm", response_model=UserOut, responses=problems(401, 404, 422))
async def confirm_totp(
    body: TotpConfirmIn, caller: Person, session: Session, request: Request
) -> Any:
    """Turn the second factor on with a code from the authenticator app."""
    if caller.person is None:
        raise Problem(404, "a second factor belongs to a person's account, not to a token")
    user, party = await user_named(session, caller.person)
    if user.totp_pending is None:
        raise Problem(422, "start with POST /auth/totp")
    if not totp_matches(user.totp_pending, body.code):
        raise Problem(422, "the code does not match: check the authenticator app's clock")
    user.totp_secret, user.totp_pending = user.totp_pending, None
    events_of(request).emit(session, "admin.totp-on", actor=party.name, user=user.email)
    await session.commit()
    return user_view(user, party)
