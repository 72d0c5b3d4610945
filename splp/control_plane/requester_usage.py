"""``GET /me/calls``: the calling requester's own calls per service, for its grants page.

The audit API's reports are for administrators and monitors; a requester reads only its
own totals, summed by the audit store's SQL (:func:`splp.audit.reports.requester_totals`).
It joins the audit store and the directory (who the caller is), so it lives in the
composition root, like :mod:`splp.control_plane.publisher_usage`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from splp.audit.reports import requester_totals
from splp.audit.routes import audit_store_of, period
from splp.directory_service.routes.common import Requester, problems

router = APIRouter(tags=["audit"])

DEFAULT_DAYS = 30


@router.get("/me/calls", responses=problems(422))
async def my_calls(
    caller: Requester,
    request: Request,
    days: Annotated[
        int, Query(ge=1, le=400, description="The last DAYS UTC days, today included.")
    ] = DEFAULT_DAYS,
) -> dict[str, Any]:
    """The caller's calls per service over the last ``days`` UTC days (30 by default):
    calls, errors, and the refused ones (denied: no grant or outside it; throttled: over
    the quota)."""
    today = datetime.now(UTC).date()
    start, end = period((today - timedelta(days=days - 1)).isoformat(), today.isoformat())
    user = f"{request.app.state.settings.broker_user_prefix}{caller.name}"  # as adapters see it
    rows = await requester_totals(audit_store_of(request), user, start, end)
    return {
        "from": start.date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
        "by_service": rows,
    }
