"""Patrol plans, GPS tracks and patrol coverage (the "Patrols" contract)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.deps import (
    BIGINT_MAX,
    NAIVE_TIME,
    BBoxDep,
    CategoriesDep,
    ConnDep,
    EngineDep,
    PageOffset,
    PlanId,
    SettingsDep,
)
from api.heavy import HeavyPool, HeavyPoolDep
from api.schemas.common import COMMON_ERRORS, ErrorBody, error_responses
from api.schemas.patrols import CoverageOut, TrackOut
from gis.access.policy import Access, Permission
from gis.core.settings import Settings
from gis.core.timewindow import resolve_window
from gis.patrols.answer import PlanOut, PlanPageOut
from gis.patrols.coverage import CoverageSource, patrol_coverage
from gis.patrols.publishing import publish_plan
from gis.patrols.request import PlanRequest
from gis.patrols.scope import check_plan_request, plan_codes, route_codes
from gis.patrols.service import create_patrol_plan
from gis.patrols.storage import get_plan, list_plans
from gis.patrols.tracks import DEFAULT_RADIUS_M, read_track, record_track
from gis.reports.categories import Category

router = APIRouter(tags=["patrols"], responses=error_responses(*COMMON_ERRORS, 403, 404))

# The track route's body limit is its own (GRIDPATROL_MAX_TRACK_BYTES, above the global one),
# enforced while the body streams in by api.hardening.RequestGuard.
TRACK_PATH = re.compile(r"/patrols/[^/]+/track")
_TRACK_EXAMPLE = {
    "type": "Feature",
    "geometry": {"type": "LineString", "coordinates": [[104.05, 30.66], [104.051, 30.661]]},
    "properties": {"times": ["2026-11-24T18:00:00+08:00", "2026-11-24T18:02:00+08:00"]},
}


def plan_scope(conn: ConnDep, plan_id: PlanId) -> tuple[str, ...]:
    """The units the plan in the path belongs to: its patrollers' and stops' (404 when there
    is none)."""
    return plan_codes(conn, plan_id)


def patrollers_scope(conn: ConnDep, plan_id: PlanId) -> tuple[str, ...]:
    """The units of the patrollers of the plan in the path (404 when there is none)."""
    return route_codes(conn, plan_id)


def plan_query_scope(
    conn: ConnDep,
    plan_id: Annotated[
        int, Query(alias="id", ge=-BIGINT_MAX, le=BIGINT_MAX, description="the plan's id")
    ],
) -> tuple[str, ...]:
    """The unit codes of the plan named by ``?id=`` (the patrol map)."""
    return plan_codes(conn, plan_id)


@router.post("/patrols/plan", status_code=201, response_model=PlanOut)
def plan(
    # First: refused roles are answered before a connection is taken.
    access: Annotated[Access, require(Permission.PLAN_PATROLS)],
    body: PlanRequest,
    engine: EngineDep,
    settings: SettingsDep,
    categories: CategoriesDep,
    pool: HeavyPoolDep,
) -> PlanOut:
    """Plan patrols along the streets (PyVRP on a pgRouting matrix) and store the plan.

    With ``compare`` the other mode is planned on the same stops, stored too, and the
    difference reported (metres saved and stops gained by joint patrolling). Stops that cannot
    be served are listed in ``unserved`` with the reason. Everything the plan touches must be
    in the account's scope — each patroller's worker, start, end and district, the districts
    and communities of its stops, each building and point (a joint plan across districts
    needs an account reaching them all); a worker code out of scope is refused as one that
    does not exist.

    A heavy request: the solver budget ``time_limit_s`` is capped to the server's
    ``GRIDPATROL_PLAN_MAX_TIME_LIMIT_S``, and planning takes a slot of the server's bounded
    pool (503 with Retry-After when none is free).
    """
    return make_plan(
        access=access,
        body=body,
        engine=engine,
        settings=settings,
        categories=categories,
        pool=pool,
    )


def make_plan(
    *,
    access: Access,
    body: PlanRequest,
    engine: Engine,
    settings: Settings,
    categories: dict[str, Category],
    pool: HeavyPool,
) -> PlanOut:
    """Check the request against the account's scope, cap its solver budget, and plan it in a
    slot of the heavy pool (``Busy``, 503, when none frees up): ``POST /patrols/plan`` and the
    patrol leader's page (``api.pages.patrols``) both plan through here."""
    with engine.connect() as conn:
        check_plan_request(conn, body, reaches=access.allows)
    capped = body.model_copy(
        update={"time_limit_s": min(body.time_limit_s, settings.plan_max_time_limit_s)}
    )
    with pool.slot("a patrol plan"):
        return create_patrol_plan(engine, capped.in_zone(settings.zone), categories=categories)


@router.get("/patrols", response_model=PlanPageOut)
def plans(
    access: Annotated[Access, require(Permission.READ_PATROLS, lists=True)],
    conn: ConnDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=BIGINT_MAX)] = 100,
    offset: PageOffset = 0,
    alternatives: Annotated[
        bool, Query(description="also list the compared other-mode plans")
    ] = False,
    published_to: Annotated[
        Literal["me"] | None,
        Query(description="me: only plans with a route published to the signed-in account"),
    ] = None,
) -> PlanPageOut:
    """Stored plans, newest first, paged: those belonging to the account's units (its
    patrollers' or its stops'; a street it merely crosses does not count)."""
    return list_plans(
        conn,
        limit=min(limit, settings.max_page_size),
        offset=offset,
        include_alternatives=alternatives,
        scopes=access.scopes,
        published_to=access.principal.name if published_to == "me" else None,
    )


@router.get(
    "/patrols/coverage",
    response_model=CoverageOut,
    dependencies=[require(Permission.READ_PATROL_COVERAGE)],
)
def coverage(
    conn: ConnDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    since: Annotated[
        datetime | None, Query(description=f"window start (default: a week ago); {NAIVE_TIME}")
    ] = None,
    until: Annotated[
        datetime | None, Query(description=f"window end (default: now); {NAIVE_TIME}")
    ] = None,
    stale: Annotated[bool | None, Query(description="only stale (or only patrolled) grids")] = (
        None
    ),
    source: Annotated[
        CoverageSource,
        Query(
            description="walked: from the GPS tracks; planned: from the stored plans' routes "
            "(metres along them, minutes at the plan's walking speed)"
        ),
    ] = "walked",
    limit: Annotated[int, Query(ge=1, le=BIGINT_MAX)] = 100,
    offset: PageOffset = 0,
) -> dict[str, Any]:
    """Per grid: last patrolled, metres and minutes in the window, and ``stale`` when nothing
    passed it in the window — from the GPS tracks walked (default) or the plans' routes
    (``source=planned``: where patrols are planned, to compare with where they walked)."""
    window = resolve_window(since, until, zone=settings.zone)
    return patrol_coverage(
        conn,
        since=window.since,
        until=window.until,
        bbox=bbox,
        stale=stale,
        source=source,
        limit=min(limit, settings.max_page_size),
        offset=offset,
    )


@router.get(
    "/patrols/{plan_id}",
    response_model=PlanOut,
    dependencies=[require(Permission.READ_PATROLS, scope_of=plan_scope)],
)
def plan_by_id(conn: ConnDep, plan_id: PlanId) -> PlanOut:
    """One stored plan: routes with their street geometry, stops in order, unserved stops."""
    return get_plan(conn, plan_id)


@router.post(
    "/patrols/{plan_id}/publish",
    response_model=PlanOut,
    dependencies=[require(Permission.PUBLISH_PATROLS, scope_of=plan_scope)],
)
def publish(engine: EngineDep, plan_id: PlanId) -> PlanOut:
    """Hand each route to its patroller's worker account: the worker then finds the plan with
    ``GET /patrols?published_to=me`` and reads it with ``GET /patrols/{id}``. A route whose
    patroller has no worker account stays unpublished (``published_to`` null). Publishing
    again keeps the first hand-over time."""
    with engine.begin() as conn:
        return publish_plan(conn, plan_id)


@router.post(
    "/patrols/{plan_id}/track",
    status_code=201,
    response_model=TrackOut,
    responses={
        200: {
            "model": TrackOut,
            "description": "The same fixes were stored for this plan before: that track "
            "(``already_stored``), nothing stored again",
        },
        413: {
            "model": ErrorBody,
            "description": "Track body larger than GRIDPATROL_MAX_TRACK_BYTES (its own limit, "
            "above GRIDPATROL_MAX_BODY_BYTES)",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/gpx+xml": {"schema": {"type": "string"}},
                "application/geo+json": {"example": _TRACK_EXAMPLE},
            },
        }
    },
)
async def track(
    plan_id: PlanId,
    request: Request,
    response: Response,
    engine: EngineDep,
    # Reaching one of the plan's patrollers opens the door; the route the track lands on
    # must then be one of a patroller the account reaches (checked before it is kept).
    access: Annotated[Access, require(Permission.RECORD_PATROL_TRACK, scope_of=patrollers_scope)],
    route: Annotated[
        int | None,
        Query(ge=1, le=BIGINT_MAX, description="route seq (default: the route it follows best)"),
    ] = None,
    radius_m: Annotated[
        float, Query(gt=0, le=1000, description="a stop is passed within this distance")
    ] = DEFAULT_RADIUS_M,
) -> dict[str, Any]:
    """Store a GPS track (GPX, or a GeoJSON LineString Feature with ``properties.times``) for
    a plan: simplified keeping its times, matched to grids (metres, minutes) and compared with
    its route's stops (passed when the track passes the stop's point on the street). A bad
    track (empty, unreadable, no times, times going backwards, points outside the city) is
    refused with 422 and nothing is stored; a body over ``GRIDPATROL_MAX_TRACK_BYTES`` with 413
    while it streams in. The same fixes sent again answer 200 with the track stored first.
    Writing needs the patroller's unit: a route merely passing the account's units on its
    streets is not enough."""
    data = await request.body()

    def store() -> dict[str, Any]:
        # Parsed and matched before the transaction opens: none waits idle in it meanwhile.
        parsed = read_track(data)
        # The route it lands on must be a reached patroller's, checked in the transaction.
        return record_track(
            engine, plan_id, parsed, route_seq=route, radius_m=radius_m, reaches=access.allows
        )

    # Parsing and the database work are blocking: off the event loop.
    stored = await run_in_threadpool(store)
    if stored["already_stored"]:
        response.status_code = 200
    return stored
