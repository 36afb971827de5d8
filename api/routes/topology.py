"""Grid topology report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import require
from api.deps import ConnDep, SettingsDep
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.territory import TopologyReport
from gis.access.policy import Permission
from gis.territory.topology import validate_topology

router = APIRouter(tags=["topology"], responses=error_responses(*COMMON_ERRORS))


@router.get(
    "/topology", response_model=TopologyReport, dependencies=[require(Permission.READ_PUBLIC)]
)
def get_topology(
    conn: ConnDep,
    settings: SettingsDep,
    sliver_area_m2: Annotated[
        float | None,
        Query(ge=0, description="gaps below this area (m²) are slivers (default: the setting)"),
    ] = None,
    split_share: Annotated[
        float | None,
        Query(gt=0, le=1, description="buildings below this share are split (default: setting)"),
    ] = None,
) -> Any:
    """Gaps, slivers, overlaps, grids outside their community, invalid geometries, code
    problems, split and unassigned buildings (areas in m², geometry as GeoJSON)."""
    report = validate_topology(
        conn,
        sliver_area_m2=settings.sliver_area_m2 if sliver_area_m2 is None else sliver_area_m2,
        split_share=settings.split_share if split_share is None else split_share,
    )
    return report.to_dict()
