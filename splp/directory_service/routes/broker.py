"""``GET /broker/status``: the broker's drift, read-only (what ``splp broker status``
prints): desired against actual counts, the changes a sync would make and the problems
the reconciler will not repair by itself. Administrators and monitors read it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.routes.common import Supervisor, problems
from splp.errors import SplpError
from splp.web import Problem

router = APIRouter(tags=["broker"])


class BrokerStatusOut(BaseModel):
    in_sync: bool = Field(description="True when a sync would change nothing.")
    desired: dict[str, int] = Field(description="Counts of what the directory wants.")
    actual: dict[str, int] = Field(description="Counts of what the broker has.")
    pending: list[str] = Field(description="The changes a sync would make.")
    problems: list[str] = Field(description="What the reconciler will not repair itself.")


@router.get("/broker/status", response_model=BrokerStatusOut, responses=problems(503))
async def broker_status(caller: Supervisor, request: Request) -> Any:
    """The broker against the directory (changes nothing); 503 when the broker's
    management API cannot be reached."""
    reconciler: BrokerReconciler = request.app.state.broker
    try:
        status = await reconciler.status()
    except SplpError as exc:
        raise Problem(503, f"the broker cannot be reached: {exc}") from None
    return {
        "in_sync": status.plan.empty,
        "desired": status.desired.counts(),
        "actual": status.actual.counts(),
        "pending": status.plan.changes,
        "problems": status.plan.problems,
    }
