"""Reports: what a resident sends, the public view anyone may read, the privileged view.

Privacy lives in the types: ``ReportPublic`` (and the list's feature properties) has no field
for the reporter's name, phone or photo at all; only ``ReportPrivate`` carries them.
"""

from __future__ import annotations

from typing import Any

from geojson_pydantic import Feature, Point
from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import FeaturePage, Timestamp
from gis.core.vocabulary import Level, ReportStatus, WorkerRole
from gis.reports.actions import ACTIONS
from gis.reports.intake import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_URL_CHARS,
    NOT_BLANK,
)


class ReportCreate(BaseModel):
    """A resident's report at a point (EPSG:4326 degrees)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lat": 30.66,
                    "lon": 104.06,
                    "category": "sanitation",
                    "description": "Overflowing bins at the east gate",
                    "reporter_name": "Wang",
                    "reporter_phone": "13800000000",
                }
            ]
        }
    )

    # strict: "104.06" as text is refused rather than silently parsed.
    lat: float = Field(ge=-90, le=90, strict=True, description="latitude, degrees")
    lon: float = Field(ge=-180, le=180, strict=True, description="longitude, degrees")
    category: str = Field(min_length=1, max_length=40, description="a code of GET /categories")
    # Documented; intake refuses a blank description (422).
    description: str = Field(
        min_length=1, max_length=MAX_DESCRIPTION_CHARS, json_schema_extra={"pattern": NOT_BLANK}
    )
    reporter_name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    reporter_phone: str | None = Field(default=None, max_length=MAX_PHONE_CHARS)
    photo_url: str | None = Field(
        default=None, max_length=MAX_URL_CHARS, pattern=r"^https?://", description="http(s) URL"
    )


class TransitionIn(BaseModel):
    """An action on a report; the actor is the signed-in account (an ``actor`` field is
    ignored)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"action": "accept"}]})

    # Documented as an enum; transition_report checks it and names an unknown action (422).
    action: str = Field(
        description=f"one of: {', '.join(ACTIONS)}", json_schema_extra={"enum": list(ACTIONS)}
    )
    note: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    worker_id: int | None = Field(
        default=None, description="dispatch: the worker (default: the grid's least busy one)"
    )
    duplicate_of: int | None = Field(
        default=None, description="confirm_duplicate: the original (default: the flagged one)"
    )
    expected_status: ReportStatus | None = Field(
        default=None,
        description="the status you saw; if the report is no longer in it, 409 and nothing "
        "is applied (If-Match does the same with the version, and catches a repeated escalate)",
    )


class ReportLocation(BaseModel):
    """Where PostGIS located the report; all ``None`` for a point outside every grid."""

    district_code: str | None = Field(description="the district the point lies in")
    subdistrict_code: str | None
    community_code: str | None
    grid_code: str | None
    building_id: int | None
    building_code: str | None
    building_distance_m: float | None = Field(description="0 inside it; at most 30 m")


class AssignedWorkerPublic(BaseModel):
    """The worker a report is dispatched to, as anyone may see it: no name (staff's personal
    data, see gis/access/policy.py)."""

    id: int
    role: WorkerRole


class AssignedWorker(AssignedWorkerPublic):
    """The assigned worker with their name: for accounts allowed the report's contact."""

    name: str


class ReportProperties(BaseModel):
    """A report as anyone may see it (the properties of a report Feature)."""

    id: int
    category: str
    description: str
    status: ReportStatus
    located: bool
    location: ReportLocation
    reported_at: Timestamp
    updated_at: Timestamp
    due_arrival_at: Timestamp | None
    due_resolution_at: Timestamp | None
    due_at: Timestamp | None = Field(description="the resolution deadline (alias)")
    arrived_at: Timestamp | None
    resolved_at: Timestamp | None
    closed_at: Timestamp | None
    arrival_overdue: bool
    resolution_overdue: bool
    overdue: bool
    escalation_level: Level
    responsible_code: str | None = Field(description="the unit now answerable")
    coordinating_community_code: str | None = Field(
        description="enclave or border report: the community across the district border"
    )
    likely_duplicate_of: int | None
    worker: AssignedWorkerPublic | None
    allowed_actions: list[str]
    version: int = Field(
        description="events in the audit trail so far; the ETag of GET /reports/{id}, to send "
        "back as If-Match with a transition"
    )


class ReportPublic(ReportProperties):
    """A report with its point, without anything about who reported it."""

    lat: float
    lon: float


class ReporterContact(BaseModel):
    name: str | None
    phone: str | None


class ReportPrivate(ReportPublic):
    """A report with the reporter's contact and photo and the assigned worker's name: for
    workers, dispatchers and admins whose scope reaches it."""

    photo_url: str | None
    reporter: ReporterContact
    worker: AssignedWorker | None


ReportFeature = Feature[Point, ReportProperties]
ReportPage = FeaturePage[ReportFeature]


class ReportEventPublic(BaseModel):
    """One transition in the append-only audit trail: what happened and when."""

    id: int
    action: str
    from_status: ReportStatus | None
    to_status: ReportStatus
    details: dict[str, Any]
    at: Timestamp


class ReportEvent(ReportEventPublic):
    """One transition with who acted and the note: for accounts allowed the report's contact."""

    actor: str
    note: str | None


class Worker(BaseModel):
    """A worker of the staff directory: name, phone and the grids they serve (personal data:
    only for accounts allowed ``read_workers`` in scope)."""

    id: int
    code: str
    name: str
    role: WorkerRole
    phone: str | None
    grids: list[str]
