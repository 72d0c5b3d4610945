"""``GET /me/usage``: the usage report of the calling publisher's own services.

The audit API's reports are for administrators and monitors (they show every service and
requester); a publisher reads only the ``by_service`` rows of the services it publishes.
It joins the audit store (the report) and the directory (who the caller is), so it lives
in the composition root.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from splp.audit.reports import GrantCounter, usage
from splp.audit.routes import audit_store_of, period
from splp.directory_service.routes.common import Publisher, problems

router = APIRouter(tags=["audit"])

Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD (UTC)")]


@router.get("/me/usage", responses=problems(422))
async def my_usage(
    caller: Publisher, request: Request, since: Day = None, until: Day = None
) -> dict[str, Any]:
    """Per day and per service of the caller: calls, error rate, latency, refusals, grants
    (by default the last seven days)."""
    start, end = period(since, until)
    counter: GrantCounter | None = getattr(request.app.state, "grant_counts", None)
    grants = await counter(start.date(), (end - timedelta(days=1)).date()) if counter else {}
    report = await usage(audit_store_of(request), start, end, grants)
    own = f"{caller.name}."
    return {
        "from": start.date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
        "by_service": [row for row in report["by_service"] if row["service"].startswith(own)],
    }
