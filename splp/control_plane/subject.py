"""``POST /audit/subject``: who accessed a data subject's data, and when (UU 27/2022).

The audit trail holds no NIK: adapters record a keyed HMAC of the subject
(:mod:`splp.bus.subject`). This route, for administrators and monitors, computes the
HMAC of the given value under every key the directory keeps (so a rotation loses
nothing) and reads the audit store for events that carry one of them. The value comes
in the body, never in the URL, so it stays out of access logs, and it is neither stored
nor logged; the lookup itself is recorded as an ``admin.subject-lookup`` event (who,
which service, how many accesses were found).

It is composed here because it needs both the directory (the keys) and the audit store,
which never import each other.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from splp.audit.query import Filters, subject_records
from splp.audit.routes import SERVICE, audit_store_of
from splp.bus.subject import subject_hmac
from splp.directory_service.auth import Session
from splp.directory_service.routes.common import Supervisor, events_of
from splp.directory_service.subject_keys import every_key
from splp.web import problem_responses as problems

router = APIRouter(prefix="/audit", tags=["audit"])


class SubjectQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    service: Annotated[str, StringConstraints(max_length=140, pattern=SERVICE)] = Field(
        description="SERVICE, PUBLISHER.SERVICE or PUBLISHER.SERVICE.vMAJOR"
    )
    value: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    ] = Field(description="The subject's identifier, e.g. a NIK. Neither stored nor logged.")


class Access(BaseModel):
    seq: int
    time: str | None
    requester: str | None
    via: str | None
    service: str
    operation: str | None
    status: int | None
    fields: list[str] | None
    source: str | None


class SubjectAccesses(BaseModel):
    service: str
    keys: int = Field(description="How many key versions were tried.")
    accesses: list[Access]


@router.post("/subject", response_model=SubjectAccesses, responses=problems(422))
async def subject_accesses(
    body: SubjectQuery, caller: Supervisor, session: Session, request: Request
) -> Any:
    """Every recorded access to the data of the subject identified by ``value`` in
    ``service``: who (requester, and ``via`` the gateway), when, which operation, status
    and the fields returned. Audited as ``admin.subject-lookup``."""
    keys = await every_key(session)
    digests = [d for d in (subject_hmac(k, body.value) for k in keys) if d is not None]
    records = await subject_records(audit_store_of(request), Filters(service=body.service), digests)
    accesses = []
    for record in records:
        event = record["event"]
        accesses.append(
            {
                "seq": record["seq"],
                "time": event.get("time"),
                "requester": event.get("requester"),
                "via": event.get("via"),
                "service": f"{event.get('publisher')}.{event.get('service')}.v{event.get('major')}",
                "operation": event.get("operation"),
                "status": event.get("status"),
                "fields": event.get("fields"),
                "source": event.get("source"),
            }
        )
    parts = body.service.split(".")
    events_of(request).emit(
        session,
        "admin.subject-lookup",
        actor=caller.name,
        publisher=parts[0] if len(parts) >= 2 else None,
        service=parts[1] if len(parts) >= 2 else parts[0],
        accesses=len(accesses),
    )
    await session.commit()
    return {"service": body.service, "keys": len(keys), "accesses": accesses}
