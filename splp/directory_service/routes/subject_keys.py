"""Routes of the subject HMAC key: adapters read the newest, administrators rotate it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from splp.directory_service import subject_keys
from splp.directory_service.auth import Session, allow
from splp.directory_service.parties import Caller
from splp.directory_service.routes.common import Administrator, events_of, problems

router = APIRouter(tags=["subject-keys"])


class SubjectKeyOut(BaseModel):
    key_id: int = Field(description="Put in each HMAC (`k<key_id>:`), so rotation keeps working.")
    secret: str = Field(description="32 bytes, hex. Never logged, never written to disk.")


class SubjectKeyRotated(BaseModel):
    key_id: int


@router.get("/subject-key", response_model=SubjectKeyOut, responses=problems())
async def subject_key(
    caller: Annotated[Caller, Depends(allow("publisher"))],
    session: Session,
    response: Response,
) -> Any:
    """The newest subject HMAC key, for publishers' adapters (``subject_field``)."""
    key = await subject_keys.current_key(session)
    await session.commit()
    response.headers["Cache-Control"] = "no-store"
    return {"key_id": key.key_id, "secret": key.secret.hex()}


@router.post("/subject-keys/rotate", response_model=SubjectKeyRotated, responses=problems())
async def rotate_subject_key(caller: Administrator, session: Session, request: Request) -> Any:
    """Start a new subject HMAC key; adapters take it at their next refresh, and the older
    keys are kept for lookups."""
    key = await subject_keys.rotate(session)
    events_of(request).emit(
        session, "admin.subject-key-rotated", actor=caller.name, key_id=key.key_id
    )
    await session.commit()
    return {"key_id": key.key_id}
