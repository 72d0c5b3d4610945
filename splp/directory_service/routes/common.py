"""What the routers share: path parameters, the caller types and ETag answers."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from splp.directory_service.auth import allow
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.parties import Caller
from splp.vocabulary import ROLES
from splp.web.problems import as_json, problem_responses

RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Access request number.")]
ServicePath = Annotated[
    str, Path(max_length=140, description="PUBLISHER.SERVICE.vMAJOR, e.g. dukcapil.penduduk.v1")
]
Anyone = Annotated[Caller, Depends(allow(*ROLES))]
Administrator = Annotated[Caller, Depends(allow("administrator"))]
Supervisor = Annotated[Caller, Depends(allow("administrator", "monitor"))]
Publisher = Annotated[Caller, Depends(allow("publisher"))]
Requester = Annotated[Caller, Depends(allow("requester"))]

problems = problem_responses


async def reconcile_broker(request: Request) -> None:
    """Bring the broker in line with a change just committed (never fails the request)."""
    reconciler: BrokerReconciler = request.app.state.broker
    await reconciler.after_change()


def events_of(request: Request) -> DirectoryEvents:
    """Where a route emits its ``access.*`` and ``admin.*`` audit events."""
    events: DirectoryEvents = request.app.state.events
    return events


def with_etag(request: Request, payload: Any) -> Response:
    """``payload`` as JSON with a strong ETag; 304 when the client has it already."""
    content = jsonable_encoder(payload)
    etag = '"' + hashlib.sha256(as_json(content)).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    wanted = request.headers.get("if-none-match", "")
    if etag in {tag.strip() for tag in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return JSONResponse(content, headers=headers)
