"""Households and care visits (人房关联, 家访): the list, recording and reading visits, and the
counts per unit.

Households are personal data: the list and the visits are for workers, dispatchers and admins
whose scope reaches the household's building's grid (``read_households``, ``record_visit``); a
list without ``grid`` keeps to the account's scope. ``/analytics/visits`` is counts only, for
anyone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import BIGINT_MAX, ConnDep, EngineDep, PageOffset, SettingsDep
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.households import HouseholdPage, Visit, VisitFigures, VisitIn
from gis.access.policy import Access, Permission
from gis.core.timewindow import in_zone
from gis.core.vocabulary import CareFlag, Level
from gis.households.listing import (
    DueFilter,
    HouseholdFilter,
    building_grid,
    household_grid,
    list_households,
    visit_figures,
)
from gis.households.visits import VisitInput, list_visits, record_visit
from gis.territory.layers import DEFAULT_PAGE_SIZE

router = APIRouter(tags=["households"], responses=error_responses(*COMMON_ERRORS))


def _grid_query(grid: Annotated[str | None, Query(description="grid code")] = None) -> str | None:
    return grid


def _building_query(
    building: Annotated[str | None, Query(description="building code")] = None,
) -> str | None:
    return building


GridQuery = Annotated[str | None, Depends(_grid_query)]
BuildingQuery = Annotated[str | None, Depends(_building_query)]


def _list_scope(conn: ConnDep, grid: GridQuery, building: BuildingQuery) -> Any:
    """The grid asked for, or the building's (404 if unknown); none: the list keeps to scope."""
    if grid:
        return (grid,)
    if building:
        return (building_grid(conn, building),)
    return None


def household_scope(conn: ConnDep, household: str) -> tuple[str | None, ...]:
    """The grid of the household in the path (404 when there is none)."""
    return (household_grid(conn, household),)


@router.get("/households", response_model=HouseholdPage, responses=error_responses(403, 404))
def households(
    access: Annotated[
        Access, require(Permission.READ_HOUSEHOLDS, scope_of=_list_scope, lists=True)
    ],
    conn: ConnDep,
    settings: SettingsDep,
    grid: GridQuery,
    building: BuildingQuery,
    care: Annotated[
        list[CareFlag] | None, Query(description="repeatable: households with any of these")
    ] = None,
    due: Annotated[
        DueFilter | None,
        Query(description="overdue: past the deadline or never met; week: due within 7 days"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=BIGINT_MAX)] = DEFAULT_PAGE_SIZE,
    offset: PageOffset = 0,
) -> Any:
    """Households in scope with their cadence and deadline, the most overdue first: head's
    name, phone, members and care flags (personal data)."""
    return list_households(
        conn,
        filters=HouseholdFilter(
            grid_code=grid,
            building_code=building,
            care=tuple(care or ()),
            due=due,
        ),
        now=datetime.now(UTC),
        zone=settings.zone,
        scopes=access.scopes,
        limit=min(limit, settings.max_page_size),
        offset=offset,
    )


@router.get(
    "/households/{household}/visits",
    response_model=list[Visit],
    responses=error_responses(403, 404),
    dependencies=[require(Permission.READ_HOUSEHOLDS, scope_of=household_scope)],
)
def visits(conn: ConnDep, household: str) -> Any:
    """The household's visits, newest first."""
    return list_visits(conn, household)


@router.post(
    "/households/{household}/visits",
    status_code=201,
    response_model=Visit,
    responses=error_responses(403, 404, 409),
)
def add_visit(
    access: Annotated[Access, require(Permission.RECORD_VISIT, scope_of=household_scope)],
    household: str,
    body: VisitIn,
    engine: EngineDep,
    settings: SettingsDep,
) -> Any:
    """Record a visit (only `met` resets the cadence); 409 if the household moved out."""
    visited_at = in_zone(body.visited_at, settings.zone)
    assert visited_at is not None
    with engine.begin() as conn:
        return record_visit(
            conn,
            household,
            VisitInput(
                visited_at=visited_at,
                outcome=body.outcome,
                worker=body.worker or access.principal.name,
                note=body.note,
            ),
            recorded_by=access.principal.name,
            now=datetime.now(UTC),
        )


@router.get(
    "/analytics/visits",
    tags=["analytics"],
    response_model=VisitFigures,
    dependencies=[require(Permission.READ_ANALYTICS)],
)
def visit_counts(conn: ConnDep, settings: SettingsDep, level: Level = Level.GRID) -> Any:
    """Per unit: households with a cadence, overdue, and met on time in the last 30 days —
    counts only, no names."""
    return visit_figures(conn, level=level, now=datetime.now(UTC), zone=settings.zone)
