"""``GET /analytics/kpis``: report performance per grid, community, sub-district or district."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import require
from api.deps import ConnDep, WindowDep
from api.schemas.analytics import Kpis
from api.schemas.common import COMMON_ERRORS, error_responses
from gis.access.policy import Permission
from gis.core.vocabulary import Level
from gis.reports.kpis import compute_kpis

router = APIRouter(tags=["analytics"], responses=error_responses(*COMMON_ERRORS))


@router.get(
    "/analytics/kpis",
    response_model=Kpis,
    # A unit's code appears under its level's name only.
    response_model_exclude_unset=True,
    dependencies=[require(Permission.READ_ANALYTICS)],
)
def kpis(conn: ConnDep, window: WindowDep, level: Level = Level.GRID) -> Any:
    """Counts by status, on-time arrival/closure rates, median minutes to close, share escalated."""
    return compute_kpis(conn, level=level, since=window.since, until=window.until)
