"""Request dependencies: the database connection and query parsing.

Every parser raises a domain error (``InvalidBBox``, ``InvalidInput``) naming the parameter;
``api/errors.py`` turns it into the status, so routes only declare what they need. Those that
only read ``app.state`` or parse are coroutines: FastAPI runs a plain function in a worker
thread, a hop per dependency per request; those that touch the database stay functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.dependencies.models import Dependant
from sqlalchemy import Connection, Engine

from gis.core.settings import Settings
from gis.core.timewindow import TimeWindow, resolve_window
from gis.reports.categories import Category
from gis.territory.layers import BBOX_DESCRIPTION, BBOX_QUERY_PATTERN, BBox, parse_bbox

# Tiles, TileJSON and OGC API Features are public data: any web page (or a standalone map
# file) may load them, and read their ETag.
PUBLIC_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag"}
# A layer read per account (patrol routes): never in a shared cache, nor read cross-origin.
PER_ACCOUNT = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}


def walk_dependants(dependant: Dependant) -> Iterator[Dependant]:
    """``dependant`` and every dependency under it, depth first (to find markers on routes)."""
    yield dependant
    for child in dependant.dependencies:
        yield from walk_dependants(child)


def base_url(request: Request) -> str:
    """The server's own URL for links, without the trailing slash: the configured public URL,
    else the address it listens on; never the Host header a client sent."""
    settings = _settings(request)
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host, port = request.scope.get("server") or (settings.host, settings.port)
    scheme = request.url.scheme
    if ":" in str(host):
        host = f"[{host}]"  # IPv6
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{scheme}://{host}{'' if default or port is None else f':{port}'}{root}"


# PostgreSQL's bigint: the documented bound of every integer parameter (ids, pages), so
# the OpenAPI document says what the server takes.
BIGINT_MAX = 2**63 - 1
ReportId = Annotated[int, Path(ge=-BIGINT_MAX, le=BIGINT_MAX, description="the report's id")]
PlanId = Annotated[int, Path(ge=-BIGINT_MAX, le=BIGINT_MAX, description="the plan's id")]
PageOffset = Annotated[int, Query(ge=0, le=BIGINT_MAX, description="items to skip")]


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_settings_dep(request: Request) -> Settings:
    return _settings(request)


async def get_categories_dep(request: Request) -> dict[str, Category]:
    categories: dict[str, Category] = request.app.state.categories
    return categories


def get_conn(request: Request) -> Iterator[Connection]:
    """A connection for reading; writers open ``engine.begin()`` themselves."""
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        yield conn


async def bbox_query(
    bbox: Annotated[
        str | None,
        Query(
            description=BBOX_DESCRIPTION,
            examples=["104.05,30.65,104.07,30.67"],
            # Documented, checked by parse_bbox (its messages name the problem).
            json_schema_extra={"pattern": BBOX_QUERY_PATTERN},
        ),
    ] = None,
) -> BBox | None:
    """Parse ``bbox``; raises ``InvalidBBox`` (422) naming the problem."""
    return parse_bbox(bbox)


# How a naive time is read, for every time parameter's description.
NAIVE_TIME = (
    "ISO 8601 date or date-time; one without an offset is read in the server's time zone "
    "(GRIDPATROL_TIMEZONE, default Asia/Shanghai)"
)


async def time_window_query(
    request: Request,
    since: Annotated[
        datetime | None,
        Query(description=f"reported at or after this time; {NAIVE_TIME}"),
    ] = None,
    until: Annotated[
        datetime | None, Query(description=f"reported before this time; {NAIVE_TIME}")
    ] = None,
) -> TimeWindow:
    """``since``/``until`` made time-zone aware; ``InvalidInput`` (422) when since > until."""
    return resolve_window(since, until, zone=_settings(request).zone)


async def open311_window_query(
    request: Request,
    start_date: Annotated[
        datetime | None, Query(description=f"requested at or after this time; {NAIVE_TIME}")
    ] = None,
    end_date: Annotated[
        datetime | None, Query(description=f"requested before this time; {NAIVE_TIME}")
    ] = None,
) -> TimeWindow:
    """Open311's ``start_date``/``end_date``, read as ``time_window_query`` reads its own."""
    return resolve_window(
        start_date,
        end_date,
        zone=_settings(request).zone,
        names=("start_date", "end_date"),
    )


EngineDep = Annotated[Engine, Depends(get_engine)]
ConnDep = Annotated[Connection, Depends(get_conn)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
BBoxDep = Annotated[BBox | None, Depends(bbox_query)]
CategoriesDep = Annotated[dict[str, Category], Depends(get_categories_dep)]
WindowDep = Annotated[TimeWindow, Depends(time_window_query)]
Open311WindowDep = Annotated[TimeWindow, Depends(open311_window_query)]
