"""Report intake, listing, transitions and the audit trail (dispatcher API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from api.deps import BBoxDep, CategoriesDep, ConnDep, EngineDep, SettingsDep, WindowDep
from api.schemas.common import TransitionConflictBody, error_responses
from api.schemas.reports import (
    ReportCreate,
    ReportEvent,
    ReportPage,
    ReportPrivate,
    TransitionIn,
    WorkerPublic,
)
from gis.core.vocabulary import STATUSES
from gis.reports.categories import Category
from gis.reports.intake import MAX_IDEMPOTENCY_KEY_CHARS, ReportInput, submit_report
from gis.reports.lifecycle import list_events, transition_report
from gis.reports.listing import ReportFilter, get_report, list_reports
from gis.reports.workers import list_workers
from gis.territory.layers import DEFAULT_PAGE_SIZE

router = APIRouter(tags=["reports"])


@router.get("/workers", tags=["workers"], response_model=list[WorkerPublic])
def workers(
    conn: ConnDep, grid: Annotated[str | None, Query(description="grid code")] = None
) -> Any:
    """Workers and their grids (whom a report can be dispatched to)."""
    return list_workers(conn, grid_code=grid)


@router.get("/categories", response_model=list[Category])
def categories(cats: CategoriesDep) -> Any:
    """Report categories with their arrival and resolution deadlines (minutes)."""
    return list(cats.values())


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportPrivate,
    responses=error_responses(409, 422),
)
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
) -> Any:
    """Submit a report; it is located (district … grid, building) and gets its due times.

    The answer carries the contact the reporter sent; the public views never do.
    """
    with engine.begin() as conn:
        submission = submit_report(
            conn,
            ReportInput(**body.model_dump()),
            idempotency_key=idempotency_key,
            # The audit trail is public: it names the role, never the resident.
            actor="resident",
            categories=cats,
        )
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return submission.report


@router.get("/reports", response_model=ReportPage, responses=error_responses(422))
def reports(
    conn: ConnDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    window: WindowDep,
    status: Annotated[
        list[str] | None, Query(description=f"repeatable; one of: {', '.join(STATUSES)}")
    ] = None,
    category: str | None = None,
    grid: Annotated[str | None, Query(description="grid code")] = None,
    community: Annotated[str | None, Query(description="community code")] = None,
    district: Annotated[str | None, Query(description="district code")] = None,
    located: Annotated[bool | None, Query(description="false: the unlocated queue")] = None,
    overdue: Annotated[bool | None, Query(description="arrival or resolution overdue")] = None,
    limit: Annotated[int, Query(ge=1)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
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
        since=window.since,
        until=window.until,
    )
    return list_reports(
        conn, filters=filters, limit=min(limit, settings.max_page_size), offset=offset
    )


@router.get("/reports/{report_id}", response_model=ReportPrivate, responses=error_responses(404))
def report(conn: ConnDep, report_id: int) -> Any:
    """One report, with the reporter's contact (for the dispatcher)."""
    return get_report(conn, report_id, include_contact=True)


@router.post(
    "/reports/{report_id}/transitions",
    response_model=ReportPrivate,
    responses=error_responses(404, 409, 422, s409=TransitionConflictBody),
)
def transition(report_id: int, body: TransitionIn, engine: EngineDep) -> Any:
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


@router.get(
    "/reports/{report_id}/events",
    response_model=list[ReportEvent],
    responses=error_responses(404),
)
def events(conn: ConnDep, report_id: int) -> Any:
    """The report's append-only audit trail: action, actor, time and note, oldest first."""
    return list_events(conn, report_id)
