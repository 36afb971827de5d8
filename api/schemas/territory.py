"""Grid topology (``GET /topology``) and cross-district coverage (``GET /coverage/…``).

Areas are m² on the WGS 84 spheroid; geometries are GeoJSON in EPSG:4326.
"""

from __future__ import annotations

from geojson_pydantic import Point
from geojson_pydantic.geometries import Geometry
from pydantic import BaseModel, Field


class Gap(BaseModel):
    community_code: str
    area_m2: float
    geometry: Geometry


class Overlap(BaseModel):
    grid_codes: tuple[str, str]
    community_codes: tuple[str, str]
    area_m2: float
    geometry: Geometry


class OutsideCommunity(BaseModel):
    grid_code: str
    community_code: str
    into_community_codes: list[str]
    area_m2: float
    grid_share_inside: float
    geometry: Geometry


class InvalidGeometry(BaseModel):
    layer: str
    code: str
    reason: str = Field(description="GEOS's reason")
    location: Point | None


class CodeProblem(BaseModel):
    layer: str
    code: str
    problem: str


class SplitBuilding(BaseModel):
    code: str
    grid_code: str
    share: float
    shares: dict[str, float] = Field(description="share of the footprint in each grid touched")
    residents: int | None


class UnassignedBuilding(BaseModel):
    code: str
    residents: int | None
    location: Point


class TopologyCounts(BaseModel):
    gaps: int
    slivers: int
    overlaps: int
    outside_community: int
    invalid_geometries: int
    code_problems: int
    split_buildings: int
    unassigned_buildings: int


class NetworkComponent(BaseModel):
    """A connected part of the street network."""

    id: int
    edges: int
    length_m: float
    main: bool = Field(description="the largest component, the one patrols walk")


class NetworkReach(BaseModel):
    """The street network's components and what its main component does not reach."""

    reach_m: float = Field(description="a building further than this from a street is unreached")
    edges: int
    components: list[NetworkComponent]
    unreachable_grids: list[str]
    unreachable_service_stations: list[str]
    unreachable_buildings: int
    unreachable_building_codes: list[str]
    crossings_without_junction: int = Field(
        description="streets of one level crossing with no junction (bridges and tunnels "
        "stay apart; drawn roads without junction vertices need --node-crossings)"
    )
    crossings_hint: str | None = Field(description="what to do about them (null: none)")


class TopologyReport(BaseModel):
    """Everything validation finds; slivers are warnings, everything else a problem."""

    ok: bool = Field(description="no problem found, in a database holding a territory")
    problem_count: int
    counts: TopologyCounts
    sliver_area_m2: float
    split_share: float
    gaps: list[Gap]
    slivers: list[Gap]
    overlaps: list[Overlap]
    outside_community: list[OutsideCommunity]
    invalid_geometries: list[InvalidGeometry]
    code_problems: list[CodeProblem]
    split_buildings: list[SplitBuilding]
    unassigned_buildings: list[UnassignedBuilding]
    network: NetworkReach | None = Field(
        description="the street network (null when scoped to a unit or without roads)"
    )
    empty: bool = Field(
        description="the database holds no territory (no district loaded): nothing was "
        "checked, so `ok` is false"
    )


class DistrictShare(BaseModel):
    district_code: str
    district_name: str
    own: bool = Field(description="the district the unit's code names")
    area_m2: float
    share: float = Field(description="part of the unit's area, 0-1")
    buildings: int
    residents: int
    geometry: Geometry


class EnclavePart(BaseModel):
    community_code: str
    district_code: str
    area_m2: float
    buildings: int
    residents: int
    geometry: Geometry


class CrossDistrictUnit(BaseModel):
    layer: str = Field(description="community or grid")
    code: str
    name: str
    own_district_code: str
    area_m2: float
    districts: list[DistrictShare]
    enclave_parts: list[EnclavePart]


class CrossDistrictCoverage(BaseModel):
    """Every community and grid lying in more than one district."""

    communities: list[CrossDistrictUnit]
    grids: list[CrossDistrictUnit]
