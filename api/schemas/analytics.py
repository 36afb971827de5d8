"""Analytics: Gi* hotspots (``GET /analytics/hotspots``) and KPIs (``GET /analytics/kpis``)."""

from __future__ import annotations

from geojson_pydantic import Feature, FeatureCollection, MultiPolygon, Polygon
from pydantic import BaseModel, Field

from api.schemas.common import Timestamp
from gis.core.vocabulary import Level, ReportStatus


class HotspotProperties(BaseModel):
    id: str = Field(description="grid code, or H<i>_<j> for a hexagon")
    count: int = Field(description="reports in the unit")
    z: float = Field(description="Gi* z-score")
    p: float = Field(description="two-sided permutation p-value")
    p_fdr: float = Field(description="Benjamini-Hochberg adjusted p")
    bin: int = Field(ge=-3, le=3, description="+-3/+-2/+-1: hot/cold at 99/95/90 %; 0: neither")
    label: str


class HotspotAnalysis(BaseModel):
    """The parameters of the analysis and a summary of its result."""

    method: str
    unit: str
    size_m: float | None = Field(description="hexagon edge length, metres")
    band_m: float | None = Field(description="neighbour distance band, metres")
    neighbours: str
    metric_crs: str = Field(description="projected CRS the metres come from")
    categories: list[str]
    since: Timestamp | None
    until: Timestamp | None
    permutations: int
    seed: int
    reports: int
    units: int
    bins: dict[str, int] = Field(description="units per bin")


class HotspotCollection(FeatureCollection[Feature[Polygon | MultiPolygon, HotspotProperties]]):
    """Units (grids or hexagons) with their Gi* result."""

    analysis: HotspotAnalysis


class KpiUnit(BaseModel):
    """One unit's KPIs; the unit's code is under the name of the level asked for."""

    district: str | None = Field(default=None, description="with level=district")
    subdistrict: str | None = Field(default=None, description="with level=subdistrict")
    community: str | None = Field(default=None, description="with level=community")
    grid: str | None = Field(default=None, description="with level=grid")
    total: int
    by_status: dict[ReportStatus, int]
    on_time_arrival_rate: float | None = Field(description="0-1; None before any deadline passed")
    on_time_closure_rate: float | None
    median_close_minutes: float | None
    escalated_share: float | None
    overdue: int = Field(
        description="open reports of the window past the deadline running now, as in "
        "GET /reports?overdue=true"
    )
    rated: int = Field(
        description="closed reports whose resident rated the outcome from the follow-up link"
    )
    satisfaction_rate: float | None = Field(
        description="满意率: 0-1, the share of rated reports the resident was satisfied with; "
        "None before any rating"
    )


class Kpis(BaseModel):
    level: Level
    since: Timestamp | None
    until: Timestamp | None
    units: list[KpiUnit] = Field(description="unlocated reports form a unit of code null")
