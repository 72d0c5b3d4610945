"""The gateway's HTTP application (aiohttp): tokens in, RPCs on the bus, replies out.

* ``POST /oauth2/token`` - RFC 6749 §4.4 client credentials (HTTP Basic or form body);
  answers ``{"access_token", "token_type": "Bearer", "expires_in"}``.
* ``POST /api/{publisher}/{service}/v{major}/{operation}`` - a JSON body becomes a call
  on the bus for the token's party; the adapter's reply comes back with the status of
  its ``splp-status``, problems as ``application/problem+json`` and ``Retry-After`` on 429.
  These are the paths of ``splp service openapi SERVICE --server <gateway URL>``.
* ``GET /health`` - 200 while the gateway serves.

Applications authenticate with ``Authorization: Bearer TOKEN`` or, for legacy ones, the
``apikey`` header. Every failure is a problem; token failures also carry the national
platform's fault codes (:mod:`splp.gateway.faults`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from splp.bus.names import MAJOR_PATTERN, SEGMENT_PATTERN
from splp.bus.wire import HEADER_STATUS
from splp.errors import (
    AccessDenied,
    ConnectionLost,
    ContractError,
    RequestTimeout,
    ServiceUnavailable,
    SplpError,
)
from splp.gateway.directory_view import DirectoryView
from splp.gateway.faults import (
    INVALID_CREDENTIALS,
    MISSING_CREDENTIALS,
    THROTTLED,
    Fault,
    fault_body,
)
from splp.gateway.party_clients import PartyClients
from splp.gateway.tokens import InvalidToken, TokenIssuer
from splp.log import get_logger
from splp.problem_details import PROBLEM_JSON, problem_body
from splp.settings import Settings

log = get_logger("gateway")

API_KEY_HEADER = "apikey"
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
MAX_FORM_BYTES = 4096
CALL_PATH = (
    f"/api/{{publisher:{SEGMENT_PATTERN}}}/{{service:{SEGMENT_PATTERN}}}"
    f"/{{version:{MAJOR_PATTERN}}}/{{operation:{SEGMENT_PATTERN}}}"
)

VIEW = web.AppKey("view", DirectoryView)
CLIENTS = web.AppKey("clients", PartyClients)
ISSUER = web.AppKey("issuer", TokenIssuer)
SETTINGS = web.AppKey("settings", Settings)


class Refused(Exception):
    """An answer the gateway gives itself, as a problem."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("detail"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def problem(status: int, detail: str, **extra: Any) -> Refused:
    return Refused(status, problem_body(status, detail, **extra))


def _respond(status: int, body: bytes, content_type: str, headers: dict[str, str]) -> web.Response:
    return web.Response(status=status, body=body, content_type=content_type, headers=headers)


def _refusal(refused: Refused) -> web.Response:
    return _respond(refused.status, orjson.dumps(refused.body), PROBLEM_JSON, refused.headers)


@web.middleware
async def problems(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every error as a problem: the gateway's own refusals and aiohttp's HTTP errors."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except Refused as refused:
        return _refusal(refused)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return _refusal(Refused(exc.status, problem_body(exc.status, exc.reason), headers))


async def token(request: web.Request) -> web.Response:
    """RFC 6749 §4.4: the client credentials grant."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise problem(413, f"a token request is at most {MAX_FORM_BYTES} bytes")
    if request.content_type != "application/x-www-form-urlencoded":
        raise problem(415, "send the token request as application/x-www-form-urlencoded")
    form = _form(await _read(request, MAX_FORM_BYTES, request.app[SETTINGS]))
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is offered")
    client_id, secret = _client_credentials(request, form)
    if client_id is None or secret is None:
        return _oauth_error(
            401,
            "invalid_client",
            "send the client id and secret (HTTP Basic or form body)",
            MISSING_CREDENTIALS,
        )
    application = request.app[VIEW].application(client_id)
    if application is None or not application.secret_matches(secret):
        log.info("token refused for client %r", client_id[:64])  # repr: no forged log lines
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    access_token, expires_in = request.app[ISSUER].issue(client_id, application.party)
    return web.json_response(
        {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        dumps=lambda v: orjson.dumps(v).decode(),
    )


def _oauth_error(
    status: int, error: str, description: str, fault: Fault | None = None
) -> web.Response:
    """RFC 6749 §5.2 members, and the national platform's fault members beside them."""
    body = fault_body(status, fault or INVALID_CREDENTIALS, description, error=error)
    body["error_description"] = description
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="splp-gateway"'
    return _respond(status, orjson.dumps(body), "application/json", headers)


def _form(raw: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(raw.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise problem(400, "the token request is not a URL-encoded form") from None
    return {key: values[0] for key, values in parsed.items() if len(values) == 1}


def _client_credentials(
    request: web.Request, form: dict[str, str]
) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep and client_id and secret else (None, None)
    return form.get("client_id") or None, form.get("client_secret") or None


def _caller(request: web.Request) -> str:
    """The party of the call's credentials: a bearer token, else an API key."""
    view = request.app[VIEW]
    header = request.headers.get("Authorization")
    api_key = request.headers.get(API_KEY_HEADER)
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized(MISSING_CREDENTIALS, "send 'Authorization: Bearer TOKEN'")
        try:
            claims = request.app[ISSUER].verify(value.strip())
        except InvalidToken as exc:
            raise _unauthorized(INVALID_CREDENTIALS, str(exc)) from None
        application = view.application(claims.client_id)
        if application is None or application.party != claims.party:
            raise _unauthorized(INVALID_CREDENTIALS, "the application of this token was revoked")
        return claims.party
    if api_key:
        application = view.by_api_key(api_key)
        if application is None:
            raise _unauthorized(INVALID_CREDENTIALS, "unknown or revoked API key")
        return application.party
    raise _unauthorized(
        MISSING_CREDENTIALS, "send 'Authorization: Bearer TOKEN' (from POST /oauth2/token)"
    )


def _unauthorized(fault: Fault, detail: str) -> Refused:
    return Refused(
        401, fault_body(401, fault, detail), {"WWW-Authenticate": 'Bearer realm="splp-gateway"'}
    )


async def _read(request: web.Request, limit: int, settings: Settings) -> bytes:
    """The body, bounded in size and in time (a slow client gets 408)."""
    if request.content_length is not None and request.content_length > limit:
        raise problem(413, f"the request body is larger than {limit} bytes")
    try:
        async with asyncio.timeout(settings.gateway_body_timeout):
            body = await request.content.read(limit + 1)
            while len(body) <= limit and not request.content.at_eof():
                chunk = await request.content.read(limit + 1 - len(body))
                if not chunk:
                    break
                body += chunk
    except TimeoutError:
        raise problem(
            408, f"the request body did not arrive within {settings.gateway_body_timeout:g} s"
        ) from None
    if len(body) > limit:
        raise problem(413, f"the request body is larger than {limit} bytes")
    return body


async def call(request: web.Request) -> web.Response:
    """A call on the bus for the party of the request's credentials."""
    settings = request.app[SETTINGS]
    party = _caller(request)
    content_type = request.content_type
    if content_type != "application/json":
        raise problem(415, "send the call's payload as application/json")
    charset = request.charset
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise problem(415, "send the call's payload as UTF-8 JSON")
    body = await _read(request, settings.max_body_bytes, settings)
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        raise problem(400, "the request body is not valid UTF-8 JSON") from None

    info = request.match_info
    service = f"{info['publisher']}.{info['service']}.{info['version']}"
    operation = info["operation"]
    view = request.app[VIEW]
    theme = view.theme_of(service)
    if theme is None:
        raise problem(404, f"no service {service} in the directory")
    if settings.gateway_own_check and not view.granted(party, service, operation):
        raise problem(403, f"{party} holds no grant in force for {service} {operation}")

    traceparent = request.headers.get("traceparent")
    if traceparent is not None and not TRACEPARENT.fullmatch(traceparent):
        traceparent = None  # a malformed trace header is dropped, never forwarded
    client = await request.app[CLIENTS].client_for(party)
    try:
        reply = await client.call_raw(theme, service, operation, body, traceparent=traceparent)
    except RequestTimeout as exc:
        raise problem(504, str(exc)) from None
    except AccessDenied as exc:
        raise problem(403, f"the bus refused the call: {exc}") from None
    except (ServiceUnavailable, ConnectionLost) as exc:
        raise Refused(503, problem_body(503, str(exc)), {"Retry-After": "5"}) from None
    except ContractError as exc:  # the body was bounded and checked above: a defect here
        raise problem(400, str(exc)) from None
    except SplpError as exc:
        raise problem(502, str(exc)) from None
    return _reply(reply.header.properties.headers or {}, reply.body)


def _reply(headers: dict[str, Any], body: bytes) -> web.Response:
    status = headers.get(HEADER_STATUS)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise problem(502, "the service's reply carries no valid splp-status")
    if status < 400:
        return _respond(status, body, "application/json", {})
    extra: dict[str, str] = {}
    try:
        detail = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise problem(502, "the service's problem reply is not JSON") from None
    if status == 429 and isinstance(detail, dict):
        retry_after = detail.get("retry_after")
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            extra["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        detail.setdefault("code", THROTTLED.code)
        detail.setdefault("message", THROTTLED.message)
        body = orjson.dumps(detail)
    return _respond(status, body, PROBLEM_JSON, extra)


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def gateway_app(settings: Settings, view: DirectoryView | None = None) -> web.Application:
    """The gateway on ``settings`` (``SPLP_GATEWAY_SECRET`` is required).

    The app starts its :class:`DirectoryView` and closes its bus clients with itself.
    """
    if settings.gateway_secret is None:
        raise ContractError("the gateway needs SPLP_GATEWAY_SECRET (at least 32 characters)")
    secret = settings.gateway_secret.get_secret_value().encode()
    app = web.Application(middlewares=[problems], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[VIEW] = view or DirectoryView(settings)
    app[CLIENTS] = PartyClients(settings, secret)
    app[ISSUER] = TokenIssuer(secret, settings.gateway_token_ttl)
    app.router.add_post("/oauth2/token", token)
    app.router.add_post(CALL_PATH, call)
    app.router.add_get("/health", health)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    await app[VIEW].start()


async def _stop(app: web.Application) -> None:
    await app[CLIENTS].close()
    await app[VIEW].close()
