"""Patrol coverage per grid: when each grid was last patrolled, the metres and minutes in it
within a window, and whether it went unpatrolled (stale).

Two sources, one aggregate:

- ``walked`` (default): the stored GPS tracks (``patrol_track_grids``: per track and grid the
  metres, minutes and first/last time seen);
- ``planned``: the stored plans' routes (``patrol_route_grids``: per route and grid the street
  metres; minutes are those metres at the plan's walking speed; the times are the route's
  departure and return). A compared other-mode plan (``alternative_of``) is not a plan to walk
  and is left out.

The window is ``since <= time < until`` on those first and last times; ``tracks`` counts the
tracks (walked) or routes (planned) that passed the grid in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.core.timewindow import check_window
from gis.territory.layers import BBox, bbox_filter, check_page

# Without a window: the last week (a grid unpatrolled for a week is stale).
DEFAULT_WINDOW = timedelta(days=7)

CoverageSource = Literal["walked", "planned"]
COVERAGE_SOURCES: tuple[str, ...] = get_args(CoverageSource)

# Per source: one row per (track or route, grid) with metres, minutes, first and last time.
_VISITS: dict[str, str] = {
    "walked": """
        SELECT tg.grid_code, tg.length_m, tg.minutes, tg.first_at, tg.last_at
        FROM patrol_track_grids tg
    """,
    "planned": """
        SELECT rg.grid_code, rg.length_m, rg.length_m / (p.walk_speed_kmh * 1000.0 / 60.0)
                   AS minutes,
               r.depart_at AS first_at, r.return_at AS last_at
        FROM patrol_route_grids rg
        JOIN patrol_routes r ON r.id = rg.route_id
        JOIN patrol_plans p ON p.id = r.plan_id
        WHERE p.alternative_of IS NULL
    """,
}


@dataclass(frozen=True)
class CoverageWindow:
    """The patrol window, both ends timezone-aware."""

    since: datetime
    until: datetime


def coverage_window(since: datetime | None, until: datetime | None) -> CoverageWindow:
    """The window asked for, defaulting to the week up to now; ``InvalidInput`` if reversed or
    naive (the API and the CLI read naive times in the configured zone first)."""
    check_window(since, until)
    until = until if until is not None else datetime.now(UTC).replace(microsecond=0)
    since = since if since is not None else until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidInput(
            f"since: the window starts ({since.isoformat()}) at or after it ends "
            f"(until {until.isoformat()})"
        )
    return CoverageWindow(since=since, until=until)


_COVERAGE = """
WITH visits AS ({visits}),
walked AS (
    SELECT v.grid_code, sum(v.length_m) AS walked_m, sum(v.minutes) AS minutes,
           count(*) AS tracks
    FROM visits v
    WHERE v.last_at >= :since AND v.first_at < :until
    GROUP BY v.grid_code
),
last AS (
    SELECT v.grid_code, max(least(v.last_at, :until)) AS last_at
    FROM visits v WHERE v.first_at < :until
    GROUP BY v.grid_code
),
cov AS (
    SELECT g.code, g.name, g.community_code, l.last_at, coalesce(w.walked_m, 0) AS walked_m,
           coalesce(w.minutes, 0) AS minutes, coalesce(w.tracks, 0) AS tracks,
           w.grid_code IS NULL AS stale
    FROM grids g
    LEFT JOIN walked w ON w.grid_code = g.code
    LEFT JOIN last l ON l.grid_code = g.code
    WHERE {where}
)
SELECT *, count(*) OVER () AS matched, count(*) FILTER (WHERE stale) OVER () AS stale_total
FROM cov
WHERE (CAST(:stale AS boolean) IS NULL OR stale = CAST(:stale AS boolean))
ORDER BY code
"""


def _rows(
    conn: Connection,
    window: CoverageWindow,
    *,
    source: CoverageSource,
    bbox: BBox | None,
    stale: bool | None,
    page: str,
    extra: dict[str, Any],
) -> list[Any]:
    where, params = bbox_filter(bbox, column="g.geom")
    params |= {"since": window.since, "until": window.until, "stale": stale}
    if source not in _VISITS:
        raise InvalidInput(f"source: {source!r} is not one of {', '.join(COVERAGE_SOURCES)}")
    statement = _COVERAGE.format(where=where, visits=_VISITS[source]) + page
    return list(conn.execute(text(statement), params | extra).all())


def _grid_json(r: Any) -> dict[str, Any]:
    return {
        "grid_code": r[0],
        "name": r[1],
        "community_code": r[2],
        "last_patrolled_at": None if r[3] is None else r[3].isoformat(timespec="seconds"),
        "walked_m": round(float(r[4]), 1),
        "minutes": round(float(r[5]), 1),
        "tracks": int(r[6]),
        "stale": bool(r[7]),
    }


def patrol_coverage(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bbox: BBox | None = None,
    stale: bool | None = None,
    source: CoverageSource = "walked",
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of grids (by code) with their patrol coverage in the window, from the GPS
    tracks walked or from the plans' routes."""
    check_page(limit, offset)
    window = coverage_window(since, until)
    rows = _rows(
        conn,
        window,
        source=source,
        bbox=bbox,
        stale=stale,
        page=" LIMIT :limit OFFSET :offset",
        extra={"limit": limit, "offset": offset},
    )
    if rows:
        matched, stale_total = int(rows[0][8]), int(rows[0][9])
    else:  # past the last page: count without paging
        counted = _rows(
            conn, window, source=source, bbox=bbox, stale=stale, page=" LIMIT 1", extra={}
        )
        matched = int(counted[0][8]) if counted else 0
        stale_total = int(counted[0][9]) if counted else 0
    return {
        "source": source,
        "since": window.since.isoformat(timespec="seconds"),
        "until": window.until.isoformat(timespec="seconds"),
        "grids": [_grid_json(r) for r in rows],
        "stale_total": stale_total,
        "numberMatched": matched,
        "numberReturned": len(rows),
        "limit": limit,
        "offset": offset,
    }


def coverage_by_grid(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    source: CoverageSource = "walked",
) -> tuple[CoverageWindow, dict[str, dict[str, Any]]]:
    """Every grid's coverage in the window, by grid code (for the grids map's layer)."""
    window = coverage_window(since, until)
    rows = _rows(conn, window, source=source, bbox=None, stale=None, page="", extra={})
    return window, {r[0]: _grid_json(r) for r in rows}
