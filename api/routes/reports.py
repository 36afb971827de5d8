"""Report intake, listing, transitions and the audit trail (dispatcher API).

Anyone submits (anonymous intake is rate-limited per client); the reporter's name, phone and
photo, and the events' actors and notes, go only to accounts the policy allows them in the
report's scope; everyone else gets the public view. A transition needs an account whose role
may take that action on a report in its scope, and the event names that account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import PrincipalDep, require
from api.deps import BBoxDep, CategoriesDep, ConnDep, EngineDep, SettingsDep
from api.ratelimit import IntakeLimit
from gis.access.policy import TRANSITION_REPORT, Principal, allows, authorize, transition_permission
from gis.access.scope import load_report_codes, report_codes
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
from gis.reports.lifecycle import list_events, public_event, transition_report
from gis.reports.listing import ReportFilter, get_report, list_reports, public_report
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
    """An action on a report; the actor is the signed-in account (an ``actor`` field is
    ignored)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"action": "accept"}]})

    action: str = Field(description=f"one of: {', '.join(ACTIONS)}")
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


def _view(principal: Principal, report: dict[str, Any]) -> dict[str, Any]:
    """The report as ``principal`` may see it: with contact in scope, else the public view."""
    if allows(principal, "read_report_contact", report_codes(report)):
        return report
    return public_report(report)


def report_scope(conn: ConnDep, report_id: int) -> tuple[str | None, ...]:
    """The unit codes of the report in the path (404 when there is none)."""
    return load_report_codes(conn, report_id)


_DENIED: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token (sign in: POST /auth/token)"},
    403: {"description": "the account's role or scope does not allow this"},
}


@router.post(
    "/reports",
    status_code=201,
    responses={429: {"description": "anonymous intake over its rate (Retry-After)"}},
)
def create_report(
    body: ReportCreate,
    engine: EngineDep,
    cats: CategoriesDep,
    response: Response,
    principal: PrincipalDep,
    _limit: IntakeLimit,
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
            # Never the reporter's name: events are shown more widely than contacts.
            actor=principal.name or "resident",
            categories=cats,
        )
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _view(principal, submission.report)


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
def report(conn: ConnDep, report_id: int, principal: PrincipalDep) -> dict[str, Any]:
    """One report; the reporter's name, phone and photo only for workers, dispatchers and
    admins whose scope reaches it."""
    return _view(principal, get_report(conn, report_id, include_contact=True))


@router.post("/reports/{report_id}/transitions", responses=_DENIED)
def transition(
    report_id: int,
    body: TransitionIn,
    engine: EngineDep,
    principal: Annotated[Principal, require(TRANSITION_REPORT, scope_of=report_scope)],
) -> dict[str, Any]:
    """Apply an action as the signed-in account (a role allowed that action, on a report in
    its scope); 409 names the current status and the allowed actions."""
    permission = transition_permission(body.action)
    with engine.begin() as conn:
        # Locked and checked in the transaction that changes it: a concurrent escalation
        # cannot move the report out of scope between the check and the change.
        codes = load_report_codes(conn, report_id, lock=True)
        authorize(principal, permission, codes)
        assert principal.name is not None  # only accounts are granted transitions
        changed = transition_report(
            conn,
            report_id,
            action=body.action,
            actor=principal.name,
            note=body.note,
            worker_id=body.worker_id,
            duplicate_of=body.duplicate_of,
        )
    return _view(principal, changed)


@router.get("/reports/{report_id}/events")
def events(conn: ConnDep, report_id: int, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The report's append-only audit trail, oldest first: action, statuses and time; who
    acted and the notes only for accounts allowed the report's contact."""
    codes = load_report_codes(conn, report_id)
    trail = list_events(conn, report_id)
    if allows(principal, "read_report_contact", codes):
        return trail
    return [public_event(event) for event in trail]
