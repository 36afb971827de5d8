"""Report intake, listing, transitions, the audit trail, workers and categories.

Anyone submits (anonymous intake is rate-limited per client) and anyone reads every report's
public view (``read_public``), lists included: a list never carries personal data, so it needs
no scope filter. The reporter's name, phone and photo, the assigned worker's name, and the
events' actors and notes go only to accounts allowed ``read_report_contact`` in the report's
scope. A transition needs an account whose role may take that action on a report in its scope,
and the event names that account. The staff directory (``GET /workers``: names and phones) is
for workers, dispatchers and admins, and shows the workers of their scope only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from api.auth import require
from api.deps import (
    BIGINT_MAX,
    BBoxDep,
    CategoriesDep,
    ConnDep,
    EngineDep,
    PageOffset,
    ReportId,
    SettingsDep,
    WindowDep,
)
from api.ratelimit import IntakeLimit
from api.schemas.common import COMMON_ERRORS, TransitionConflictBody, error_responses
from api.schemas.reports import (
    ReportCreate,
    ReportEvent,
    ReportEventPublic,
    ReportPage,
    ReportPrivate,
    ReportPublic,
    TransitionIn,
    Worker,
)
from gis.access.policy import (
    TRANSITION_REPORT,
    Access,
    Permission,
    Principal,
    allows,
    authorize,
    transition_permission,
)
from gis.access.scope import load_report_codes, report_codes
from gis.core.errors import InvalidInput
from gis.core.vocabulary import STATUSES
from gis.reports.categories import Category
from gis.reports.intake import MAX_IDEMPOTENCY_KEY_CHARS, ReportInput, submit_report
from gis.reports.lifecycle import list_events, public_event, transition_report
from gis.reports.listing import ReportFilter, get_report, list_reports, public_report
from gis.reports.workers import list_workers
from gis.territory.layers import DEFAULT_PAGE_SIZE

# An entity tag as If-Match takes it: *, or a version, quoted or not, weak or not.
IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"?[0-9]{1,18}"?)\s*$'

router = APIRouter(tags=["reports"], responses=error_responses(*COMMON_ERRORS))


def _grid_query(grid: Annotated[str | None, Query(description="grid code")] = None) -> str | None:
    return grid


GridQuery = Annotated[str | None, Depends(_grid_query)]


def _grid_scope(grid: GridQuery) -> tuple[str | None, ...] | None:
    """The grid asked for (it must be in scope); none: the list keeps to the scope."""
    return (grid,) if grid else None


@router.get(
    "/workers", tags=["workers"], response_model=list[Worker], responses=error_responses(403)
)
def workers(
    # First: refused roles are answered before a connection is taken.
    access: Annotated[Access, require(Permission.READ_WORKERS, scope_of=_grid_scope, lists=True)],
    conn: ConnDep,
    grid: GridQuery,
) -> Any:
    """The staff directory: workers with phone and grids (whom a report can be dispatched to),
    those serving a grid in the account's scope."""
    return list_workers(conn, grid_code=grid, scopes=access.scopes)


@router.get(
    "/categories", response_model=list[Category], dependencies=[require(Permission.READ_PUBLIC)]
)
def categories(cats: CategoriesDep) -> Any:
    """Report categories with their arrival and resolution deadlines (minutes)."""
    return list(cats.values())


def _view(principal: Principal, report: dict[str, Any]) -> ReportPrivate | ReportPublic:
    """The report as ``principal`` may see it: with contact in scope, else the public view."""
    if allows(principal, Permission.READ_REPORT_CONTACT, report_codes(report)):
        return ReportPrivate.model_validate(report)
    return ReportPublic.model_validate(public_report(report))


def report_scope(conn: ConnDep, report_id: ReportId) -> tuple[str | None, ...]:
    """The unit codes of the report in the path (404 when there is none)."""
    return load_report_codes(conn, report_id)


# The privileged view when the account's scope reaches the report, else the public one.
_REPORT_VIEW = ReportPrivate | ReportPublic


@router.post(
    "/reports",
    status_code=201,
    response_model=_REPORT_VIEW,
    responses=error_responses(409, 429),
)
def create_report(
    body: ReportCreate,
    engine: EngineDep,
    cats: CategoriesDep,
    settings: SettingsDep,
    response: Response,
    access: Annotated[Access, require(Permission.SUBMIT_REPORT)],
    _limit: IntakeLimit,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY_CHARS,
            description="a retry with the same key returns the first report",
        ),
    ] = None,
) -> Any:
    """Submit a report; it is located (district … grid, building) and gets its due times.

    The answer is the report as the caller may see it: an anonymous resident gets the public
    view (a replayed Idempotency-Key must not hand out someone else's contact).
    """
    principal = access.principal
    with engine.begin() as conn:
        submission = submit_report(
            conn,
            ReportInput(**body.model_dump()),
            idempotency_key=idempotency_key,
            # An account's name, else "resident": never the reporter's own name, since the
            # audit trail is shown more widely than the contact.
            actor=principal.name or "resident",
            categories=cats,
            max_distance_m=settings.max_report_distance_m,
        )
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _view(principal, submission.report)


@router.get("/reports", response_model=ReportPage, dependencies=[require(Permission.READ_PUBLIC)])
def reports(
    conn: ConnDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    window: WindowDep,
    status: Annotated[
        list[str] | None,
        Query(
            description=f"repeatable; one of: {', '.join(STATUSES)}",
            # Documented; the list checks it and names an unknown status (422).
            json_schema_extra={"items": {"type": "string", "enum": list(STATUSES)}},
        ),
    ] = None,
    category: str | None = None,
    grid: Annotated[str | None, Query(description="grid code")] = None,
    community: Annotated[str | None, Query(description="community code")] = None,
    district: Annotated[str | None, Query(description="district code")] = None,
    located: Annotated[bool | None, Query(description="false: the unlocated queue")] = None,
    overdue: Annotated[bool | None, Query(description="arrival or resolution overdue")] = None,
    limit: Annotated[int, Query(ge=1, le=BIGINT_MAX)] = DEFAULT_PAGE_SIZE,
    offset: PageOffset = 0,
) -> Any:
    """Every report's public view as a FeatureCollection, newest first, filtered and paged:
    never the reporter's contact or photo, nor the worker's name, whoever asks."""
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


def etag(report: dict[str, Any]) -> str:
    """The report's entity tag: its version (events in its audit trail), quoted."""
    return f'"{report["version"]}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``W/"3"`` or ``3``); ``*`` or no
    header: None. Raises ``InvalidInput`` for anything else."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isascii() or not tag.isdigit() or len(tag) > 18:
        raise InvalidInput(
            f'If-Match: expected one ETag of GET /reports/{{id}} (a version such as "3"), '
            f"got {value!r}"
        )
    return int(tag)


@router.get("/reports/{report_id}", response_model=_REPORT_VIEW, responses=error_responses(404))
def report(
    conn: ConnDep,
    report_id: ReportId,
    access: Annotated[Access, require(Permission.READ_PUBLIC)],
    response: Response,
) -> Any:
    """One report; the reporter's name, phone and photo only for workers, dispatchers and
    admins whose scope reaches it. Its ``ETag`` is its version (see the transitions)."""
    found = get_report(conn, report_id, include_contact=True)
    response.headers["ETag"] = etag(found)
    return _view(access.principal, found)


@router.post(
    "/reports/{report_id}/transitions",
    response_model=_REPORT_VIEW,
    responses=error_responses(403, 404, 409, s409=TransitionConflictBody),
)
def transition(
    report_id: ReportId,
    body: TransitionIn,
    engine: EngineDep,
    access: Annotated[Access, require(TRANSITION_REPORT, scope_of=report_scope)],
    response: Response,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            min_length=1,
            max_length=40,
            pattern=IF_MATCH_PATTERN,
            description='the report\'s ETag as you saw it ("3"): a report changed since '
            "(a second click, a colleague) answers 409 and nothing is applied",
        ),
    ] = None,
) -> Any:
    """Apply an action as the signed-in account (a role allowed that action, on a report in
    its scope); 409 names the current status, version and the allowed actions. With
    ``If-Match`` (the version) or ``expected_status``, an action taken on a stale view of the
    report is refused (409) instead of applied twice."""
    principal = access.principal
    expected_version = parse_if_match(if_match)
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
            expected_status=body.expected_status,
            expected_version=expected_version,
        )
    response.headers["ETag"] = etag(changed)
    return _view(principal, changed)


@router.get(
    "/reports/{report_id}/events",
    response_model=list[ReportEvent] | list[ReportEventPublic],
    responses=error_responses(404),
)
def events(
    conn: ConnDep, report_id: ReportId, access: Annotated[Access, require(Permission.READ_PUBLIC)]
) -> Any:
    """The report's append-only audit trail, oldest first: action, statuses and time; who
    acted and the notes only for accounts allowed the report's contact."""
    codes = load_report_codes(conn, report_id)
    trail = list_events(conn, report_id)
    if allows(access.principal, Permission.READ_REPORT_CONTACT, codes):
        return [ReportEvent.model_validate(event) for event in trail]
    return [ReportEventPublic.model_validate(public_event(event)) for event in trail]
