"""Cross-district coverage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import require
from api.deps import ConnDep
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.territory import CrossDistrictCoverage
from gis.access.policy import Permission
from gis.territory.coverage import find_cross_district_coverage

router = APIRouter(tags=["coverage"], responses=error_responses(*COMMON_ERRORS))


@router.get(
    "/coverage/cross-district",
    response_model=CrossDistrictCoverage,
    dependencies=[require(Permission.READ_PUBLIC)],
)
def get_cross_district(conn: ConnDep) -> Any:
    """Communities and grids whose area lies in more than one district: area (m²), share,
    buildings and residents per district, and communities' enclave parts as polygons."""
    return find_cross_district_coverage(conn).to_dict()
