"""What the routers share: path parameters, the caller types and ETag answers."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from splp.directory_service.audit import DirectoryAudit
from splp.directory_service.auth import allow
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.parties import Caller
from splp.directory_service.problems import PROBLEM_RESPONSE, as_json
from splp.vocabulary import ROLES

RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Access request number.")]
ServicePath = Annotated[
    str, Path(max_length=140, description="PUBLISHER.SERVICE.vMAJOR, e.g. dukcapil.penduduk.v1")
]
Anyone = Annotated[Caller, Depends(allow(*ROLES))]
Administrator = Annotated[Caller, Depends(allow("administrator"))]
Supervisor = Annotated[Caller, Depends(allow("administrator", "monitor"))]
Publisher = Annotated[Caller, Depends(allow("publisher"))]
Requester = Annotated[Caller, Depends(allow("requester"))]

PROBLEM = PROBLEM_RESPONSE


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route can answer (401 and 403 always)."""
    return {status: PROBLEM for status in sorted({401, 403, *statuses})}


async def reconcile_broker(request: Request) -> None:
    """Bring the broker in line with a change just committed (never fails the request)."""
    reconciler: BrokerReconciler = request.app.state.broker
    await reconciler.after_change()


def audit_of(request: Request) -> DirectoryAudit:
    audit: DirectoryAudit = request.app.state.audit
    return audit


def with_etag(request: Request, payload: Any) -> Response:
    """``payload`` as JSON with a strong ETag; 304 when the client has it already."""
    content = jsonable_encoder(payload)
    etag = '"' + hashlib.sha256(as_json(content)).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    wanted = request.headers.get("if-none-match", "")
    if etag in {tag.strip() for tag in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return JSONResponse(content, headers=headers)
