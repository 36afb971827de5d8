"""``GET /analytics/kpis``: report performance per grid, community or district."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import ConnDep
from gis.reports.kpis import compute_kpis

router = APIRouter(tags=["analytics"])


@router.get("/analytics/kpis")
def kpis(
    conn: ConnDep,
    level: Literal["grid", "community", "district"] = "grid",
    since: Annotated[datetime | None, Query(description="reported at or after")] = None,
    until: Annotated[datetime | None, Query(description="reported before")] = None,
) -> dict[str, Any]:
    """Counts by status, on-time arrival/closure rates, median minutes to close, share escalated."""
    return compute_kpis(conn, level=level, since=since, until=until)
