"""A stub of the national SPLP (an API manager like WSO2's), served on a real port.

- ``POST /oauth2/token``: client credentials (RFC 6749 §4.4) as HTTP Basic or in the
  form; the good secret gets a bearer token valid ``expires_in`` seconds (the platform
  itself honours it ``valid_for`` seconds, to play a token revoked or expired early);
  a bad one gets 401 ``invalid_client``.
- ``/t/bungokab.go.id/dukcapil/1.0/residents[/{nik}]``: the tenant-path API behind it,
  reached with the token in ``token_header`` (``Authorization: Bearer``) or an API key in
  ``apikey``. No credential: 401 fault 900902; a bad or expired token: 401 fault 900901,
  in the flat or the nested JSON shape (``fault_shape``), or XML; past
  ``throttle_after`` calls: 429 fault 900804 with ``Retry-After: retry_after``.
- When ``backend_credential`` is set, the backend behind the gateway wants it in
  ``X-Backend-Authorization`` and answers 401 (its own, no fault code) without it.

Tokens, the secret and the key are registered in :data:`tests.logcapture.SECRETS`.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.logcapture import SECRETS

TENANT_API = "/t/bungokab.go.id/dukcapil/1.0"
CLIENT_ID = "bungokab-dukcapil-adapter"
CLIENT_SECRET = SECRETS.add("national-client-secret-4f1b9c2e7d", "national client secret")
API_KEY = SECRETS.add("national-api-key-8a7e6d5c4b3a", "national api key")
BACKEND_CREDENTIAL = SECRETS.add("Basic YmFja2VuZDpiYWNrZW5kLXNlY3JldC0xMjM0", "backend credential")
BACKEND_HEADER = "X-Backend-Authorization"

FAULTS = {
    "900901": ("Invalid Credentials", 401),
    "900902": ("Missing Credentials", 401),
    "900804": ("Message throttled out", 429),
}


@dataclass
class NationalPlatform:
    expires_in: int = 300
    valid_for: float | None = None
    token_header: str = "Authorization"
    fault_shape: str = "flat"  # flat | nested | xml
    throttle_after: int | None = None
    retry_after: str | None = "7"
    reject_every_token: bool = False
    backend_credential: str | None = None
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> when it stops working

    @property
    def answered(self) -> list[str]:
        """What each API call got: ``ok`` or the fault code."""
        return [call["outcome"] for call in self.calls]

    def _fault(self, code: str, headers: dict[str, str] | None = None) -> Response:
        message, status = FAULTS[code]
        description = f"{message}. Make sure you have provided the correct security credentials"
        if self.fault_shape == "xml":
            xml = (
                '<ams:fault xmlns:ams="http://wso2.org/apimanager/security">'
                f"<ams:code>{code}</ams:code><ams:message>{message}</ams:message>"
                f"<ams:description>{description}</ams:description></ams:fault>"
            )
            return Response(xml, status, headers=headers, media_type="application/xml")
        body: dict[str, Any] = {"code": code, "message": message, "description": description}
        if self.fault_shape == "nested":
            body = {"fault": {**body, "code": int(code)}}
        return JSONResponse(body, status, headers=headers)

    def _issue(self, request_form: dict[str, str], how: str, client: tuple[str, str]) -> Response:
        self.token_requests.append({"how": how, "scope": request_form.get("scope")})
        if request_form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        if client != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client Authentication failed."},
                401,
                headers={"WWW-Authenticate": 'Basic realm="oauth"'},
            )
        token = SECRETS.add(secrets.token_hex(16), "national access token")
        lifetime = self.valid_for if self.valid_for is not None else self.expires_in
        self.tokens[token] = time.monotonic() + lifetime
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        if "scope" in request_form:
            answer["scope"] = request_form["scope"]
        return JSONResponse(answer)

    def _guard(self, request: Request) -> Response | None:
        """The gateway's checks, in WSO2's order: credentials, then throttling."""
        given = request.headers.get(self.token_header, "")
        key = request.headers.get("apikey")
        if key is not None:
            if key != API_KEY:
                return self._fault("900901")
        elif not given.startswith("Bearer "):
            return self._fault("900902")
        else:
            token = given.removeprefix("Bearer ")
            works_until = self.tokens.get(token)
            if self.reject_every_token or works_until is None or time.monotonic() >= works_until:
                return self._fault("900901")
        served = sum(1 for call in self.calls if call["outcome"] != "900901")
        if self.throttle_after is not None and served >= self.throttle_after:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return self._fault("900804", headers)
        if (
            self.backend_credential
            and request.headers.get(BACKEND_HEADER) != self.backend_credential
        ):
            return JSONResponse({"error": "backend: unauthorized"}, 401)
        return None

    async def _api(self, request: Request, answer: dict[str, Any], status: int = 200) -> Response:
        refusal = self._guard(request)
        outcome = "ok"
        if refusal is not None:
            body = refusal.body.decode()
            outcome = next((code for code in FAULTS if code in body), str(refusal.status_code))
        self.calls.append(
            {
                "method": request.method,
                "raw_path": request.scope["raw_path"].decode(),
                "headers": {name.lower() for name in request.headers},
                "body": (await request.body()).decode(),
                "outcome": outcome,
            }
        )
        if refusal is not None:
            return refusal
        return JSONResponse({**answer, "raw_path": request.scope["raw_path"].decode()}, status)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/oauth2/token")
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            basic = request.headers.get("authorization", "")
            if basic.startswith("Basic "):
                pair = base64.b64decode(basic.removeprefix("Basic ")).decode()
                client_id, _, secret = pair.partition(":")
                return self._issue(form, "basic", (unquote(client_id), unquote(secret)))
            client = (form.get("client_id", ""), form.get("client_secret", ""))
            return self._issue(form, "body", client)

        @app.get(TENANT_API + "/residents/{nik:path}")
        async def resident(request: Request, nik: str) -> Response:
            return await self._api(request, {"nik": nik, "name": "Siti"})

        @app.put(TENANT_API + "/residents/{nik:path}")
        async def update(request: Request, nik: str) -> Response:
            return await self._api(request, {"nik": nik, "updated": True})

        @app.post(TENANT_API + "/residents")
        async def register(request: Request) -> Response:
            return await self._api(request, {"registered": True}, 201)

        @app.post(TENANT_API + "/residents/search")
        async def search(request: Request) -> Response:
            return await self._api(request, {"found": []})

        return app
