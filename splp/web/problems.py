"""Every error of an SPLP HTTP API (the directory's, the audit's) as RFC 9457 problem
details (``application/problem+json``).

Route code raises :class:`Problem`; the handlers installed by :func:`install` turn it,
FastAPI's validation errors, HTTP errors of the framework and anything unexpected into
problem bodies. :class:`BodyLimit` answers 413 before an oversized body is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from splp.log import get_logger
from splp.problem_details import PROBLEM_JSON, TYPES, problem_body

log = get_logger("directory")

MAX_VALIDATION_ERRORS = 10

PROBLEM_RESPONSE = {"content": {PROBLEM_JSON: {}}, "description": "A problem (RFC 9457)."}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route can answer (401 and 403 always)."""
    return {status: PROBLEM_RESPONSE for status in sorted({401, 403, *statuses})}


class Problem(Exception):
    """An error answered as a problem; ``extra`` members are added to the body."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or TYPES.get(status, "error")
        self.extra = extra


def problem_response(
    status: int,
    detail: str | None,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, detail, kind, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors()[:MAX_VALIDATION_ERRORS]:
        where = "/".join(str(part) for part in error.get("loc", ()))
        errors.append({"pointer": where, "message": str(error.get("msg", "invalid"))})
    return errors


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(exc.status, exc.detail, exc.kind, headers, **exc.extra)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem_response(400, "the request body is not valid JSON", errors=errors)
    first = errors[0] if errors else {"pointer": "", "message": "invalid request"}
    detail = f"{first['pointer']}: {first['message']}" if first["pointer"] else first["message"]
    return problem_response(422, detail, errors=errors)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, detail, headers=dict(exc.headers or {}) or None)


async def _on_integrity(_request: Request, exc: Exception) -> JSONResponse:
    # two requests raced to create the same name: the loser gets what a sequential one would
    return problem_response(409, "this conflicts with a record that was just created; try again")


async def _on_store_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("store error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return problem_response(
        503, "the directory's store is unavailable; try again later", headers={"Retry-After": "5"}
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(500, "the directory failed; the error is in its log")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(OperationalError, _on_store_down)
    app.add_exception_handler(OSError, _on_store_down)
    app.add_exception_handler(Exception, _on_unexpected)


class BodyLimit:
    """ASGI middleware: 413 for a body larger than ``max_bytes``, declared or streamed;
    ``larger`` gives the paths (regular expressions) that may carry more, and how much."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = tuple(larger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next(
            (size for path, size in self.larger if path.fullmatch(scope.get("path", ""))),
            self.max_bytes,
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        # Read the whole body first (a control-plane request is small): a stream that
        # grows past the limit is refused before the application sees any of it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(413, f"the request body is larger than {limit} bytes")
        await response(scope, receive, send)


def as_json(value: Any) -> bytes:
    """Canonical JSON for ETags: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
