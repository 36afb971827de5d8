"""Response models of the patrol endpoints (the "Patrols" contract).

The request model is the domain's own ``gis.patrols.request.PlanRequest``: the CLI validates a
JSON file with the very same class. A plan's answer is the domain's ``gis.patrols.answer``,
re-exported here with the tracks' and coverage's models.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from gis.patrols.answer import (
    AlternativeOut,
    ComparisonOut,
    GridLengthOut,
    LineStringGeometry,
    LonLatOut,
    ModeTotals,
    PatrollerOut,
    PlanOut,
    PlanPageOut,
    PlanSummaryOut,
    RouteOut,
    StopOut,
    UnservedOut,
)
from gis.patrols.coverage import CoverageSource
from gis.patrols.models import TrackSource

__all__ = [
    "AlternativeOut",
    "ComparisonOut",
    "CoverageGridOut",
    "CoverageOut",
    "GridLengthOut",
    "LineStringGeometry",
    "LonLatOut",
    "ModeTotals",
    "PatrollerOut",
    "PlanOut",
    "PlanPageOut",
    "PlanSummaryOut",
    "RouteOut",
    "StopOut",
    "TrackGridOut",
    "TrackOut",
    "TrackStopOut",
    "UnservedOut",
]


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
