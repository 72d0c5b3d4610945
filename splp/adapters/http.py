"""The config-driven HTTP adapter: each operation becomes a call to the agency's local REST API.

The request fields named in the path template fill it (URL-encoded), the fields listed
under ``query`` become query parameters, and the rest become the JSON body for methods
that send one. Every call carries ``Idempotency-Key: <message_id>`` (a redelivered
request keeps its id), ``SPLP-Requester: <user_id>`` and, when given, ``traceparent``.

The agency's status becomes the ``splp-status`` of the reply:

=====================  ==============================================
agency answers         splp-status
=====================  ==============================================
2xx                    200, with the agency's JSON body
400, 409, 422          400
401                    502 ``upstream-auth``: it refused the adapter
404                    404
408, 504, no answer    504
413                    413
429                    429 (``retry_after`` from ``Retry-After``)
anything else          502 (its detail is not passed on)
fault 900901, 900902   502 ``upstream-auth`` (whatever the status)
fault 900804           429 (``retry_after`` from ``Retry-After``)
=====================  ==============================================

The faults are those of an API manager in front of the agency API (the national
platform, :mod:`splp.adapters.upstream_faults`). An operation's ``status`` map overrides
a row, except the faults'. With an OAuth2 backend profile (:mod:`splp.adapters.backend_auth`),
a 401 or fault 900901 renews the token, and an idempotent operation is then sent once
more; any other operation answers the caller with the ``upstream-auth`` problem (the
next call has the new token). An answer larger than
``max_response_bytes`` (default: ``SPLP_MAX_BODY_BYTES``) is a 502; redirects are not
followed (a 3xx is a 502 too). A path field of ``.`` or ``..`` is refused (400): it
would name another resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from splp.adapters.agency_client import AgencyClient, AgencyResponse, ResponseTooLarge
from splp.adapters.backend_auth import FixedCredentials, OAuth2Token, backend_auth
from splp.adapters.from_directory import from_directory
from splp.adapters.http_config import (
    HttpAdapterConfig,
    HttpOperation,
    check_operations,
    expand_env,
    load_http_config,
)
from splp.adapters.runtime import Adapter, Handler
from splp.adapters.upstream_faults import (
    AUTH_FAULTS,
    INVALID_CREDENTIALS,
    MISSING_CREDENTIALS,
    THROTTLED,
    fault_code,
    retry_after_seconds,
)
from splp.bus.descriptor import ServiceDescriptor
from splp.bus.wire import Problem, Request, dumps, loads
from splp.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RemoteError,
    TooManyRequests,
    UpstreamAuth,
    UpstreamError,
    UpstreamTimeout,
)
from splp.log import get_logger
from splp.settings import Settings

log = get_logger("adapter.http")

# characters of a template's own text that stay as written (its {fields} are filled later)
_TEMPLATE_SAFE = "/{}%:@!$&'()*+,;=~-._"
_DOT_SEGMENTS = frozenset({".", ".."})

DEFAULT_STATUS_MAP: Mapping[int, int] = {
    400: 400,
    409: 400,
    422: 400,
    404: 404,
    408: 504,
    504: 504,
    413: 413,
    429: 429,
}
_ERROR_FOR_STATUS: Mapping[int, type[RemoteError]] = {
    400: BadRequest,
    404: NotFound,
    413: PayloadTooLarge,
    429: TooManyRequests,
    502: UpstreamError,
    504: UpstreamTimeout,
}


def reply_status(upstream: int, overrides: Mapping[int, int]) -> int:
    """The ``splp-status`` for the agency's HTTP status ``upstream``."""
    if upstream in overrides:
        return overrides[upstream]
    if 200 <= upstream < 300:
        return 200
    return DEFAULT_STATUS_MAP.get(upstream, 502)


class HttpOperationHandler:
    """The handler of one operation: builds the HTTP request and maps the answer."""

    def __init__(
        self,
        name: str,
        op: HttpOperation,
        config: HttpAdapterConfig,
        client: AgencyClient,
        auth: FixedCredentials | OAuth2Token | None = None,
    ) -> None:
        self.name = name
        self.op = op
        self.client = client
        self.auth = auth or FixedCredentials({})
        self.timeout = op.timeout or config.timeout
        self.headers = {
            "Accept": "application/json",
            **{k: expand_env(v) for k, v in {**config.headers, **op.headers}.items()},
        }
        self.path_fields = set(op.path_fields)
        self.template = quote(op.path, safe=_TEMPLATE_SAFE)

    async def __call__(self, payload: Any, request: Request) -> Any:
        fields = payload if isinstance(payload, dict) else {}
        try:
            path = self.template.format_map({f: _segment(fields, f) for f in self.path_fields})
        except KeyError as exc:
            raise Problem.bad_request(f"field {exc.args[0]} is needed for the path") from None
        _check_segments(self.template, path)
        query = {f: _scalar(fields, f) for f in self.op.query if f in fields}
        rest = {k: v for k, v in fields.items() if k not in self.path_fields and k not in query}
        headers = {
            **self.headers,
            "Idempotency-Key": request.message_id,
            "SPLP-Requester": request.requester or "",
        }
        if request.via:
            headers["SPLP-Via"] = request.via
        if request.traceparent:
            headers["traceparent"] = request.traceparent
        body = None
        if self.op.sends_body:
            body = dumps(rest if isinstance(payload, dict) else payload)
            headers["Content-Type"] = "application/json"
        credential = await self.auth.current(self._timeout(request))
        response = await self._send(path, query, body, {**headers, **credential.headers}, request)
        if self.auth.renewable and _rejects_token(response):
            renewed = await self.auth.renew(credential, self._timeout(request))
            if renewed and self.op.is_idempotent:
                log.info("%s: token rejected, renewed, sending once more", self.name)
                credential = await self.auth.current(self._timeout(request))
                headers = {**headers, **credential.headers}
                response = await self._send(path, query, body, headers, request)
        return self._result(response)

    def _timeout(self, request: Request) -> float:
        remaining = request.remaining()
        if remaining is None:
            return self.timeout
        return max(0.001, min(self.timeout, remaining))

    async def _send(
        self,
        path: str,
        query: Mapping[str, str],
        body: bytes | None,
        headers: Mapping[str, str],
        request: Request,
    ) -> AgencyResponse:
        timeout = self._timeout(request)
        try:
            return await self.client.send(
                self.op.method,
                self.client.url(path),
                query=query,
                body=body,
                headers=headers,
                timeout=timeout,
            )
        except TimeoutError:
            raise Problem.of(
                UpstreamTimeout, f"the agency API did not answer within {timeout:g} s"
            ) from None
        except ResponseTooLarge:
            limit = self.client.max_response_bytes
            log.warning("%s: agency answer over %d bytes", self.name, limit)
            raise Problem.of(
                UpstreamError, f"the agency API answered with more than {limit} bytes"
            ) from None
        except aiohttp.ClientError as exc:
            log.warning("%s: agency API unreachable: %s", self.name, type(exc).__name__)
            raise Problem.of(UpstreamError, "the agency API is unreachable") from None

    def _result(self, response: AgencyResponse) -> Any:
        fault = fault_code(response.body) if response.status >= 400 else None
        if fault in AUTH_FAULTS:
            raise Problem.of(
                UpstreamAuth,
                f"the agency API refused the adapter's credentials "
                f"(fault {fault} {AUTH_FAULTS[fault]})",
            )
        if fault == THROTTLED:
            raise _too_many_requests(response, f"the agency API throttled the adapter ({fault})")
        status = reply_status(response.status, self.op.status)
        if response.status == 401 and response.status not in self.op.status:
            raise Problem.of(UpstreamAuth, "the agency API refused the adapter's credentials")
        if status == 200:
            if not response.body:
                return None
            try:
                return loads(response.body)
            except ValueError:
                raise Problem.of(
                    UpstreamError, "the agency API answered with a body that is not JSON"
                ) from None
        error = _ERROR_FOR_STATUS.get(status, UpstreamError)
        detail = f"the agency API answered {response.status}"
        if status == 429:
            raise _too_many_requests(response, detail)
        if status in (400, 404) and response.headers.get("content-type", "").startswith(
            "application/problem+json"
        ):
            agency_detail = _problem_detail(response)
            if agency_detail:
                detail = agency_detail
        raise Problem.of(error, detail, status=status)


def _rejects_token(response: AgencyResponse) -> bool:
    """A 401 or fault 900901: the token may be old. Fault 900902 (no credential sent at
    all) is not one that a new token mends."""
    if response.status < 400:
        return False
    fault = fault_code(response.body)
    return fault == INVALID_CREDENTIALS or (response.status == 401 and fault != MISSING_CREDENTIALS)


def _too_many_requests(response: AgencyResponse, detail: str) -> Problem:
    seconds = retry_after_seconds(response.headers.get("retry-after"))
    extra = {} if seconds is None else {"retry_after": seconds}
    return Problem.of(TooManyRequests, detail, **extra)


def _segment(fields: Mapping[str, Any], name: str) -> str:
    """A field as one percent-encoded path segment; never ``.`` or ``..``."""
    value = _scalar(fields, name)
    if value in _DOT_SEGMENTS:
        raise Problem.bad_request(f"field {name} cannot be {value!r} in the URL")
    return quote(value, safe="")


def _check_segments(template: str, path: str) -> None:
    """Refuse a path where fields made a segment ``.``, ``..`` or empty.

    One field alone is refused by :func:`_segment`, but fields side by side in one
    segment (``{name}.{ext}``, ``{a}{b}``) can still make a dot segment, which the agency's
    server resolves to another path, and an empty one (``//``), which many servers merge
    away. Field values hold no ``/`` once encoded, so the segments line up one to one.
    """
    for written, sent in zip(template.split("/"), path.split("/"), strict=True):
        if "{" in written and sent in _DOT_SEGMENTS | {""}:
            raise Problem.bad_request(
                f"the fields of the URL make the path segment {written!r} {sent!r}: "
                "a segment cannot be empty, . or .."
            )


def _scalar(fields: Mapping[str, Any], name: str) -> str:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Problem.bad_request(f"field {name} must be a string or a number to go in the URL")
    return str(value)


def _problem_detail(response: AgencyResponse) -> str | None:
    try:
        body = loads(response.body)
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail[:500] if isinstance(detail, str) else None


def http_adapter(
    config: HttpAdapterConfig,
    descriptor: ServiceDescriptor,
    settings: Settings | None = None,
    **options: Any,
) -> Adapter:
    """An :class:`Adapter` whose handlers call the agency API (its client closes with it)."""
    settings = settings or Settings()
    client = AgencyClient(
        config.base_url,
        ca_file=config.ca_file,
        connections=config.prefetch,
        max_response_bytes=config.max_response_bytes or settings.max_body_bytes,
    )
    auth = backend_auth(config, client)
    handlers: dict[str, Handler] = {
        name: HttpOperationHandler(name, op, config, client, auth)
        for name, op in config.operations.items()
    }
    options.setdefault("prefetch", config.prefetch)
    adapter = Adapter(descriptor, handlers, settings, **options)
    adapter.owns(client.aclose)
    return adapter


async def open_http_adapter(
    path: str | Path, settings: Settings | None = None, **options: Any
) -> Adapter:
    """The HTTP adapter configured in ``path``, with its descriptor and grants from the
    directory when the config names a ``service`` (not started yet)."""
    settings = settings or Settings()
    config, descriptor = load_http_config(path)
    if descriptor is None:
        assert config.service is not None
        descriptor, grants = await from_directory(config.service, settings)
        check_operations(config, descriptor, str(path))
        options["grants"] = grants
    return http_adapter(config, descriptor, settings, **options)


async def run_http_adapter(
    path: str | Path, settings: Settings | None = None, **options: Any
) -> None:
    """Run the HTTP adapter configured in ``path`` until SIGTERM or SIGINT."""
    adapter = await open_http_adapter(path, settings, **options)
    await adapter.run()
