"""Service areas: walk areas (``GET /service-areas``), the buildings beyond the walk limit
(``GET /service-areas/gaps``) and new sites (``POST /service-areas/siting``).

Walks are in minutes at the request's ``walk_speed_kmh``; geometries GeoJSON in EPSG:4326.
"""

from __future__ import annotations

from typing import Annotated, Literal

from geojson_pydantic import Feature, FeatureCollection, MultiPolygon, Polygon
from pydantic import BaseModel, Field

from gis.reports.intake import NOT_BLANK
from gis.service_areas.siting import MAX_GIVEN_CANDIDATES, MAX_NEW_SITES
from gis.service_areas.walk import (
    DEFAULT_KIND,
    DEFAULT_MINUTES,
    DEFAULT_WALK_SPEED_KMH,
    MAX_MINUTES,
    MAX_WALK_SPEED_KMH,
    MIN_WALK_SPEED_KMH,
)
from gis.territory.importing import FACILITY_KINDS


class WalkAreaProperties(BaseModel):
    code: str = Field(description="the facility's code")
    name: str | None
    district_code: str | None = Field(description="the district the facility lies in")
    street_m: float = Field(description="metres of street reachable within the limit")
    buildings: int = Field(description="buildings whose walk to this facility is within it")
    residents: int


class WalkAreaCollection(FeatureCollection[Feature[Polygon | MultiPolygon, WalkAreaProperties]]):
    """One feature per facility of the kind: its walk area (null: no street reaches it)."""

    kind: str
    minutes: float
    walk_speed_kmh: float


class GapBuildingOut(BaseModel):
    code: str
    name: str | None
    residents: int
    community_code: str | None
    district_code: str | None = Field(description="the district the building lies in")
    walk_minutes: float | None = Field(description="to the nearest facility; null: none connected")
    nearest_facility: str | None
    nearest_facility_district: str | None
    within_limit: bool
    lon: float = Field(description="the building's point on surface")
    lat: float


class UnitTotalsOut(BaseModel):
    code: str | None = Field(description="null: buildings in no community (or district)")
    name: str | None
    buildings: int
    residents: int
    beyond_buildings: int = Field(description="beyond the limit, or not connected")
    beyond_residents: int
    not_connected_buildings: int
    across_border_buildings: int = Field(description="nearest facility in another district")


class GapsOut(BaseModel):
    kind: str
    minutes: float
    walk_speed_kmh: float
    limit_m: float = Field(description="the longest walk within the limit, metres")
    facilities: int
    buildings: int
    residents: int
    beyond_buildings: int
    beyond_residents: int
    not_connected_buildings: int
    gaps_matched: int = Field(
        description="buildings beyond the limit, over all pages (inside the bbox, if given)"
    )
    across_border_matched: int = Field(
        description="buildings whose nearest facility lies in another district, over all pages"
    )
    gaps: list[GapBuildingOut] = Field(description="beyond the limit, farthest first (paged)")
    across_border: list[GapBuildingOut] = Field(
        description="nearest facility in another district, nearest first (paged)"
    )
    by_district: list[UnitTotalsOut]
    by_community: list[UnitTotalsOut]


class CandidatePoint(BaseModel):
    # strict: true/false are not coordinates (check_candidates refuses them as well).
    lon: float = Field(ge=-180, le=180, strict=True)
    lat: float = Field(ge=-90, le=90, strict=True)
    label: str = Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK})


class SitingRequest(BaseModel):
    # Documented; check_limit names an unknown kind (422).
    kind: str = Field(default=DEFAULT_KIND, json_schema_extra={"enum": list(FACILITY_KINDS)})
    minutes: float = Field(default=DEFAULT_MINUTES, gt=0, le=MAX_MINUTES)
    walk_speed_kmh: float = Field(
        default=DEFAULT_WALK_SPEED_KMH, ge=MIN_WALK_SPEED_KMH, le=MAX_WALK_SPEED_KMH
    )
    new_sites: int = Field(ge=1, le=MAX_NEW_SITES)
    candidates: (
        Literal["buildings", "facilities"]
        | Annotated[list[CandidatePoint], Field(min_length=1, max_length=MAX_GIVEN_CANDIDATES)]
    ) = Field(
        default="buildings",
        description="every building, every facility of another kind, or the points given "
        f"(at most {MAX_GIVEN_CANDIDATES})",
    )


class SiteOut(BaseModel):
    label: str = Field(description="building or facility code, or the label given")
    lon: float
    lat: float
    district_code: str | None
    new_residents: int = Field(description="residents this site alone brings within the limit")
    new_buildings: int


class DistrictCoverageOut(BaseModel):
    code: str | None
    name: str | None
    residents: int
    covered_before: int
    covered_after: int


class SitingOut(BaseModel):
    kind: str
    minutes: float
    walk_speed_kmh: float
    new_sites: int
    candidates: int
    useful_candidates: int = Field(
        description="candidates within the limit of a building beyond it"
    )
    residents: int
    covered_before: int = Field(description="residents within the limit today")
    covered_after: int = Field(description="… with the chosen sites")
    status: str = Field(description="HiGHS's status")
    optimal: bool
    mip_gap: float | None
    solve_s: float
    greedy_covered_after: int = Field(description="the greedy baseline's coverage")
    sites: list[SiteOut]
    greedy_sites: list[str]
    by_district: list[DistrictCoverageOut]
