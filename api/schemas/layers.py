"""GeoJSON features of the stored layers (``GET /districts`` … ``/roads``, ``/grids/{code}``)."""

from __future__ import annotations

from typing import Any

from geojson_pydantic import Feature, LineString, MultiPolygon, Point
from pydantic import BaseModel, Field

from api.schemas.common import FeaturePage


class DistrictProperties(BaseModel):
    code: str = Field(description="6-digit district code")
    name: str
    area_m2: float = Field(description="area on the WGS 84 spheroid, m²")


class SubdistrictProperties(DistrictProperties):
    district_code: str


class CommunityProperties(DistrictProperties):
    subdistrict_code: str


class GridProperties(DistrictProperties):
    community_code: str


class BuildingProperties(BaseModel):
    code: str
    name: str | None
    floors: int | None
    households: int | None
    residents: int | None
    grid_code: str | None = Field(description="the grid holding the largest share")
    grid_share: float | None = Field(description="share of the footprint in that grid, 0-1")


class FacilityProperties(BaseModel):
    code: str
    kind: str
    name: str | None
    grid_code: str | None


class RoadProperties(BaseModel):
    id: int
    name: str | None
    length_m: float = Field(description="length on the WGS 84 spheroid, metres")


GridFeature = Feature[MultiPolygon, GridProperties]

# Each listed layer's page model, by layer name (``gis.territory.layers.LAYERS``).
LAYER_PAGES: dict[str, Any] = {
    "districts": FeaturePage[Feature[MultiPolygon, DistrictProperties]],
    "subdistricts": FeaturePage[Feature[MultiPolygon, SubdistrictProperties]],
    "communities": FeaturePage[Feature[MultiPolygon, CommunityProperties]],
    "grids": FeaturePage[GridFeature],
    "buildings": FeaturePage[Feature[MultiPolygon, BuildingProperties]],
    "facilities": FeaturePage[Feature[Point, FacilityProperties]],
    "roads": FeaturePage[Feature[LineString, RoadProperties]],
}
