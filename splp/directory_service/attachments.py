"""Documents attached to an access request: PDF only, size-limited, checked by content.

>>> safe_name("../../etc/Surat Permohonan (final).PDF")
'Surat Permohonan _final_.pdf'
>>> safe_name("  ")
'lampiran.pdf'
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.directory_service.access import visible_request
from splp.directory_service.models import AccessRequest, Attachment
from splp.directory_service.parties import Caller
from splp.web.problems import Problem

PDF = "application/pdf"
MAX_PER_REQUEST = 5
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._-]")


def safe_name(name: str) -> str:
    """The base name of ``name`` in plain characters, ending in ``.pdf``, at most 100."""
    base = PureWindowsPath(PurePosixPath(name.replace("\x00", "")).name).name
    stem = _UNSAFE.sub("_", base.strip())
    if stem.lower().endswith(".pdf"):
        stem = stem[:-4]
    stem = stem.strip(" .")[:90] or "lampiran"
    return f"{stem}.pdf"


def check_pdf(data: bytes, content_type: str, limit: int) -> None:
    """A 415/413/422 problem unless ``data`` is a PDF document within ``limit`` bytes."""
    if content_type.split(";")[0].strip().lower() != PDF:
        raise Problem(415, f"send the document as {PDF} (got {content_type or 'no type'})")
    if len(data) > limit:
        raise Problem(413, f"the document is {len(data)} bytes; the limit is {limit}")
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise Problem(422, "the document is not a PDF file (no %PDF- header or %%EOF trailer)")


def view(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "request_id": attachment.request_id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "created_at": attachment.created_at,
    }


async def attach(
    session: AsyncSession,
    caller: Caller,
    request_id: int,
    filename: str,
    data: bytes,
    content_type: str,
    limit: int,
) -> tuple[Attachment, AccessRequest]:
    """Attach a PDF to a request of the caller's that is still ``submitted``."""
    request = await visible_request(session, caller, request_id)
    if request.requester_id != caller.id:
        raise Problem(403, f"only the requester attaches documents to request {request_id}")
    if request.state != "submitted":
        raise Problem(
            409,
            f"request {request_id} is {request.state}: documents are attached while it is "
            "submitted",
        )
    check_pdf(data, content_type, limit)
    count = len(
        (
            await session.scalars(select(Attachment.id).where(Attachment.request_id == request_id))
        ).all()
    )
    if count >= MAX_PER_REQUEST:
        raise Problem(409, f"request {request_id} has {MAX_PER_REQUEST} documents already")
    attachment = Attachment(
        request_id=request_id,
        filename=safe_name(filename),
        content_type=PDF,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        uploaded_by=caller.id,
        uploaded_by_user=caller.user_id,
    )
    session.add(attachment)
    await session.flush()
    return attachment, request


async def list_attachments(
    session: AsyncSession, caller: Caller, request_id: int
) -> list[dict[str, Any]]:
    await visible_request(session, caller, request_id)
    rows = await session.scalars(
        select(Attachment).where(Attachment.request_id == request_id).order_by(Attachment.id)
    )
    return [view(a) for a in rows.all()]


async def one_attachment(
    session: AsyncSession, caller: Caller, request_id: int, attachment_id: int
) -> Attachment:
    await visible_request(session, caller, request_id)
    attachment = await session.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id, Attachment.request_id == request_id
        )
    )
    if attachment is None:
        raise Problem(404, f"request {request_id} has no document {attachment_id}")
    return attachment
