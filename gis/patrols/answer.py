"""What a stored patrol plan answers: typed, read from the database by
``gis.patrols.storage`` and served as is by the API (its response models are these classes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gis.patrols.reasons import UnservedCode
from gis.patrols.request import Mode, Objective
from gis.patrols.stops import StopKind


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

    reason_code: UnservedCode = Field(description="why, as a code clients can match")
    reason: str = Field(description="why, for people")


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
    published_to: str | None = Field(
        description="the worker account the route was handed to (POST /patrols/{id}/publish)"
    )
    published_at: datetime | None


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


class ShareOut(BaseModel):
    """One patroller's share of the plan."""

    patroller: str
    minutes: float = Field(description="time away, start to end, on site included")
    length_m: float = Field(description="street metres walked")
    stops: int
    of_longest: float = Field(description="minutes as a share of the longest route's (0-1)")


class PlanOut(BaseModel):
    """A stored patrol plan."""

    id: int
    name: str | None
    mode: Mode
    objective: Objective = Field(
        description="balanced: the longest time away first, then the team's walk; "
        "shortest: the team's walk"
    )
    shares: list[ShareOut] = Field(description="each patroller's minutes, metres and stops")
    over_capacity: int = Field(
        description="required stops (open reports) left out because the shifts are full; "
        "0: every required stop a shift could reach is served"
    )
    missing_patroller_hours: float = Field(
        description="estimated patroller-hours those stops would take (their time on site and "
        "the walk from the nearest planned place and back)"
    )
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
    objective: Objective
    over_capacity: int
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
