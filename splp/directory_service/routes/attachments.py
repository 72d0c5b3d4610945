"""Routes for documents attached to access requests (the signed request letter, as PDF).

The requester attaches while its request is submitted; whoever may see the request may
list and download them. The audit event names the document's SHA-256 and size, never its
name or content.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from splp.directory_service.attachments import attach, list_attachments, one_attachment, view
from splp.directory_service.auth import Session
from splp.directory_service.bodies import AttachmentOut
from splp.directory_service.routes.common import Anyone, Requester, RequestId, events_of, problems
from splp.settings import Settings

router = APIRouter(tags=["access"])

AttachmentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Document number.")]
PDF_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/access-requests/{request_id}/attachments",
    status_code=201,
    response_model=AttachmentOut,
    responses=problems(403, 404, 409, 413, 415, 422),
    openapi_extra=PDF_BODY,
)
async def add_attachment(
    request_id: RequestId,
    caller: Requester,
    session: Session,
    request: Request,
    filename: Annotated[str, Query(max_length=255, description="The document's name.")] = "",
) -> Any:
    """Attach a PDF document (e.g. the signed request letter) to a submitted request of
    the caller's; the body is the file, sent as ``application/pdf``."""
    settings: Settings = request.app.state.settings
    data = await request.body()
    attachment, _request = await attach(
        session,
        caller,
        request_id,
        filename or "lampiran.pdf",
        data,
        request.headers.get("content-type", ""),
        settings.attachment_max_bytes,
    )
    events_of(request).emit(
        session,
        "access.attachment",
        actor=caller.name,
        request_id=request_id,
        sha256=attachment.sha256,
        size=attachment.size,
    )
    await session.commit()
    return view(attachment)


@router.get(
    "/access-requests/{request_id}/attachments",
    response_model=list[AttachmentOut],
    responses=problems(403, 404),
)
async def attachments(request_id: RequestId, caller: Anyone, session: Session) -> Any:
    """The documents attached to a request."""
    return await list_attachments(session, caller, request_id)


@router.get(
    "/access-requests/{request_id}/attachments/{attachment_id}",
    responses={200: {"content": {"application/pdf": {}}}, **problems(403, 404)},
)
async def download_attachment(
    request_id: RequestId, attachment_id: AttachmentId, caller: Anyone, session: Session
) -> Response:
    """One document, as a download (never shown inline)."""
    attachment = await one_attachment(session, caller, request_id, attachment_id)
    return Response(
        attachment.data,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )
