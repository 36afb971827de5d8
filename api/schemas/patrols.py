"""Response models of the patrol endpoints (the "Patrols" contract).

The request model is the domain's own ``gis.patrols.request.PlanRequest``: the CLI validates a
JSON file with the very same class.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gis.patrols.coverage import CoverageSource
from gis.patrols.models import StopKind, TrackSource
from gis.patrols.request import Mode


class LineStringGeometry(BaseModel):
    """A GeoJSON LineString in EPSG:4326 (lon, lat)."""

    type: Literal["LineString"]
    coordinates: list[list[float]]


class LonLatOut(BaseModel):
    lon: float
    lat: float


class PatrollerOut(BaseModel):
    name: str
    worker: str | None = Field(description="worker code, if the patroller is a stored worker")
    district: str | None


class _StopFields(BaseModel):
    id: int
    kind: StopKind
    ref: str = Field(description="report id, grid code, facility or building code, or label")
    label: str | None
    lon: float
    lat: float
    grid_code: str | None
    district_code: str | None
    required: bool
    value: float
    service_minutes: float
    due_at: datetime | None
    snap_distance_m: float | None = Field(description="metres from the stop to its street")


class StopOut(_StopFields):
    """A stop on a route, in order, with its arrival and whether it is late."""

    seq: int
    arrive_at: datetime
    depart_at: datetime
    late: bool
    late_minutes: float


class UnservedOut(_StopFields):
    """A stop no route visits, and why."""

    reason: str


class GridLengthOut(BaseModel):
    code: str
    length_m: float


class RouteOut(BaseModel):
    """One patroller's route along the streets."""

    seq: int
    patroller: PatrollerOut
    shift_minutes: float
    length_m: float = Field(description="street metres walked (not the walk to each stop)")
    duration_minutes: float
    depart_at: datetime
    return_at: datetime
    districts: list[str] = Field(description="districts the route passes, most metres first")
    district_lengths_m: dict[str, float]
    grids: list[GridLengthOut]
    start: LonLatOut
    end: LonLatOut
    geometry: LineStringGeometry | None
    stops: list[StopOut]


class ModeTotals(BaseModel):
    total_length_m: float
    total_minutes: float
    served: int


class ComparisonOut(BaseModel):
    """Joint against district-siloed patrolling of the same stops."""

    joint: ModeTotals
    by_district: ModeTotals
    saved_m: float = Field(description="by_district minus joint total length")
    saved_pct: float
    stops_gained: int = Field(description="joint minus by_district stops served")


class AlternativeOut(BaseModel):
    id: int
    mode: Mode


class PlanOut(BaseModel):
    """A stored patrol plan."""

    id: int
    name: str | None
    mode: Mode
    start_at: datetime
    created_at: datetime
    walk_speed_kmh: float
    total_length_m: float
    total_minutes: float
    served: int
    routes: list[RouteOut]
    unserved: list[UnservedOut]
    comparison: ComparisonOut | None
    alternative_of: int | None = Field(description="the plan this one is the compared mode of")
    alternative: AlternativeOut | None = Field(description="the other mode's plan (compare)")


class PlanSummaryOut(BaseModel):
    id: int
    name: str | None
    mode: Mode
    start_at: datetime
    created_at: datetime
    total_length_m: float
    total_minutes: float
    served: int
    unserved: int
    alternative_of: int | None
    patrollers: int
    saved_m: float | None


class PlanPageOut(BaseModel):
    plans: list[PlanSummaryOut]
    numberMatched: int  # noqa: N815 (the paging names of the layer lists)
    numberReturned: int  # noqa: N815
    limit: int
    offset: int


class TrackGridOut(BaseModel):
    grid_code: str
    length_m: float
    minutes: float
    first_at: datetime
    last_at: datetime


class TrackStopOut(BaseModel):
    stop_id: int
    seq: int | None
    kind: str
    ref: str
    passed: bool
    passed_at: datetime | None
    distance_m: float | None = Field(
        description="metres from the track to the stop's point on the street (where its route "
        "passes closest to it)"
    )


class TrackOut(BaseModel):
    """A stored GPS track, matched to grids and compared with its route's stops."""

    id: int
    plan_id: int
    route_seq: int | None
    patroller: str | None
    source: TrackSource
    started_at: datetime
    ended_at: datetime
    points: int
    length_m: float
    radius_m: float
    grids: list[TrackGridOut]
    stops_passed: list[TrackStopOut]
    stops_missed: list[TrackStopOut]
    already_stored: bool = Field(
        description="the same fixes were stored for this plan before: this is that track"
    )


class CoverageGridOut(BaseModel):
    grid_code: str
    name: str
    community_code: str
    last_patrolled_at: datetime | None
    walked_m: float
    minutes: float
    tracks: int
    stale: bool


class CoverageOut(BaseModel):
    """Per grid: last patrol, metres walked in the window, and stale when not patrolled."""

    source: CoverageSource = Field(
        description="walked: GPS tracks; planned: the plans' routes (walked_m, minutes and "
        "tracks then count planned metres, walking minutes and routes)"
    )
    since: datetime
    until: datetime
    grids: list[CoverageGridOut]
    stale_total: int
    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    limit: int
    offset: int
