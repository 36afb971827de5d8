"""Households, their care visits and the counts per unit (``/households``, ``/analytics/visits``).

``Household`` and ``Visit`` hold personal data and are served only under ``read_households``
in scope; ``VisitFigures`` are counts only.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from geojson_pydantic import Feature, Point
from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Timestamp
from gis.core.vocabulary import CareFlag, VisitOutcome
from gis.households.visits import MAX_NOTE_CHARS


class Household(BaseModel):
    """A current household with its cadence and where its visits stand (personal data)."""

    code: str
    building_code: str
    unit: str | None
    head_name: str | None
    phone: str | None
    members: int | None
    care: list[CareFlag]
    visit_every_days: int | None = Field(
        description="days between visits: given, else the shortest of the care flags'; "
        "null: no cadence"
    )
    grid_code: str | None
    community_code: str | None
    district_code: str | None
    last_visit_at: Timestamp | None = Field(description="the last visit, any outcome")
    last_met_at: Timestamp | None = Field(description="the last visit that met the household")
    due_on: dt.date | None = Field(
        description="last local day (GRIDPATROL_TIMEZONE) on which the next visit is on time; "
        "null: no cadence, or never met"
    )
    overdue: bool = Field(description="due_on has passed, or a cadence never met")
    days_overdue: int | None = Field(
        description="days past due_on (never met: the cadence); null when not overdue"
    )


class HouseholdPage(BaseModel):
    """A page of households, the most overdue first."""

    today: dt.date = Field(description="the local day the deadlines were read against")
    numberMatched: int
    limit: int
    offset: int
    households: list[Household]


class VisitIn(BaseModel):
    """A care visit as recorded in the field."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "visited_at": "2026-11-24T10:30:00+08:00",
                    "worker": "W-990101001001001",
                    "outcome": "met",
                    "note": "well; brought rice",
                }
            ]
        },
    )

    visited_at: dt.datetime = Field(
        description="when; ISO 8601, a time without an offset is read in GRIDPATROL_TIMEZONE"
    )
    worker: str | None = Field(
        default=None, max_length=200, description="who visited (default: the signed-in account)"
    )
    outcome: VisitOutcome = Field(description="only `met` resets the cadence")
    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)


class Visit(BaseModel):
    """A recorded visit (its note is personal data)."""

    id: int
    household_code: str
    visited_at: Timestamp
    worker: str | None
    outcome: VisitOutcome
    note: str | None
    recorded_by: str | None = Field(description="the account that recorded it")
    recorded_at: Timestamp


class VisitUnit(BaseModel):
    """Counts for one unit: no names."""

    code: str
    name: str | None
    households: int = Field(description="current households registered")
    with_cadence: int = Field(description="households with a visit cadence")
    overdue: int = Field(description="households with a cadence whose visit is overdue")
    visited_on_time: int = Field(
        description="households met on time (by the deadline the previous visit set) in the "
        "last recent_days days"
    )


class VisitFigures(BaseModel):
    """Care visits per grid, community, sub-district or district."""

    level: Literal["district", "subdistrict", "community", "grid"]
    today: dt.date
    recent_days: int
    units: list[VisitUnit]


class CareVisitProperties(BaseModel):
    """A building with overdue care visits as the grids map draws it: counts, no names."""

    code: str = Field(description="building code")
    grid_code: str | None
    overdue: int = Field(description="households whose visit is overdue")
    households: int = Field(description="households on a cadence in the building")
    label: str
    style: dict[str, str | float | bool]


class CareVisitFeatures(BaseModel):
    """The grids map's overdue care-visit overlay, fetched after the tiles are drawn."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature[Point, CareVisitProperties]]
