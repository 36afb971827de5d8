"""Report intake, listing, transitions and the audit trail (dispatcher API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import BBoxDep, CategoriesDep, ConnDep, EngineDep, SettingsDep
from gis.reports.actions import ACTIONS
from gis.reports.intake import (
    MAX_DESCRIPTION_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_URL_CHARS,
    ReportInput,
    submit_report,
)
from gis.reports.lifecycle import list_events, transition_report
from gis.reports.listing import ReportFilter, get_report, list_reports
from gis.reports.workers import list_workers

router = APIRouter(tags=["reports"])


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
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS)
    reporter_name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    reporter_phone: str | None = Field(default=None, max_length=MAX_PHONE_CHARS)
    photo_url: str | None = Field(
        default=None, max_length=MAX_URL_CHARS, pattern=r"^https?://", description="http(s) URL"
    )


class TransitionIn(BaseModel):
    """An action on a report by a named actor."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"action": "accept", "actor": "dispatcher Li"}]}
    )

    action: str = Field(description=f"one of: {', '.join(ACTIONS)}")
    actor: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    worker_id: int | None = Field(
        default=None, description="dispatch: the worker (default: the grid's least busy one)"
    )
    duplicate_of: int | None = Field(
        default=None, description="confirm_duplicate: the original (default: the flagged one)"
    )


@router.get("/workers", tags=["workers"])
def workers(
    conn: ConnDep, grid: Annotated[str | None, Query(description="grid code")] = None
) -> list[dict[str, Any]]:
    """Workers and their grids (whom a report can be dispatched to)."""
    return list_workers(conn, grid_code=grid)


@router.get("/categories")
def categories(cats: CategoriesDep) -> list[dict[str, Any]]:
    """Report categories with their arrival and resolution deadlines (minutes)."""
    return [c.model_dump() for c in cats.values()]


@router.post("/reports", status_code=201)
def create_report(
    body: ReportCreate,
    engine: EngineDep,
    cats: CategoriesDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=MAX_IDEMPOTENCY_KEY_CHARS,
            description="a retry with the same key returns the first report",
        ),
    ] = None,
) -> dict[str, Any]:
    """Submit a report; it is located (district … grid, building) and gets its due times."""
    with engine.begin() as conn:
        submission = submit_report(
            conn,
            ReportInput(**body.model_dump()),
            idempotency_key=idempotency_key,
            actor=body.reporter_name or "resident",
            categories=cats,
        )
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return submission.report


@router.get("/reports")
def reports(
    conn: ConnDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    status: Annotated[list[str] | None, Query(description="repeatable")] = None,
    category: str | None = None,
    grid: Annotated[str | None, Query(description="grid code")] = None,
    community: Annotated[str | None, Query(description="community code")] = None,
    district: Annotated[str | None, Query(description="district code")] = None,
    located: Annotated[bool | None, Query(description="false: the unlocated queue")] = None,
    overdue: Annotated[bool | None, Query(description="arrival or resolution overdue")] = None,
    since: Annotated[datetime | None, Query(description="reported at or after")] = None,
    until: Annotated[datetime | None, Query(description="reported before")] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Reports as a FeatureCollection, newest first, filtered and paged (no reporter contact)."""
    filters = ReportFilter(
        status=tuple(status) if status else None,
        category=category,
        grid_code=grid,
        community_code=community,
        district_code=district,
        located=located,
        overdue=overdue,
        bbox=bbox,
        since=since,
        until=until,
    )
    return list_reports(
        conn, filters=filters, limit=min(limit, settings.max_page_size), offset=offset
    )


@router.get("/reports/{report_id}")
def report(conn: ConnDep, report_id: int) -> dict[str, Any]:
    """One report, with the reporter's contact (for the dispatcher)."""
    return get_report(conn, report_id, include_contact=True)


@router.post("/reports/{report_id}/transitions")
def transition(report_id: int, body: TransitionIn, engine: EngineDep) -> dict[str, Any]:
    """Apply an action; 409 names the current status and the allowed actions."""
    with engine.begin() as conn:
        return transition_report(
            conn,
            report_id,
            action=body.action,
            actor=body.actor,
            note=body.note,
            worker_id=body.worker_id,
            duplicate_of=body.duplicate_of,
        )


@router.get("/reports/{report_id}/events")
def events(conn: ConnDep, report_id: int) -> list[dict[str, Any]]:
    """The report's append-only audit trail: action, actor, time and note, oldest first."""
    return list_events(conn, report_id)
