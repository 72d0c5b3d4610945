"""Routes the HTTP gateway reads (role ``gateway``): credential hashes and grants, with ETags.

The gateway polls both with ``If-None-Match`` and gets ``304`` while nothing changed, so
a revoke or a suspension reaches it within one poll interval at the cost of a few bulk
queries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from splp.directory_service.applications import gateway_credentials
from splp.directory_service.auth import Session, allow
from splp.directory_service.bodies import GatewayCredential, GrantOut
from splp.directory_service.gateway_feed import grants_in_force
from splp.directory_service.parties import Caller
from splp.directory_service.routes.common import problems, with_etag

router = APIRouter(tags=["gateway"])

Gateway = Annotated[Caller, Depends(allow("gateway"))]


@router.get("/gateway/credentials", response_model=list[GatewayCredential], responses=problems())
async def credentials(caller: Gateway, session: Session, request: Request) -> Response:
    """Every active application of a requester: its client id, its party and the SHA-256
    of its secret and API key (with an ETag)."""
    return with_etag(request, await gateway_credentials(session))


@router.get("/gateway/grants", response_model=list[GrantOut], responses=problems())
async def grants(caller: Gateway, session: Session, request: Request) -> Response:
    """Every grant in force of a requester: who, which service and operations, quota and
    expiry (with an ETag)."""
    return with_etag(request, await grants_in_force(session))
