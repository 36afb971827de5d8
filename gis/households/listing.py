"""Households with their visit status: the list workers walk from, and the counts per unit.

The list holds personal data (head's name, phone, members, care flags) and keeps to the
caller's scope (``scopes``: unit-code prefixes the building's grid must start with; None: no
restriction). The figures per unit are counts only, for anyone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput, NotFound
from gis.core.vocabulary import CARE_FLAGS, CODE_DIGITS, LEVEL_TABLE, Level, VisitOutcome
from gis.households.cadence import (
    DAYS_OVERDUE_SQL,
    DUE_WITHIN_SQL,
    OVERDUE_SQL,
    WEEK_DAYS,
    status_sql,
)
from gis.territory.layers import BBox, bbox_filter

DueFilter = Literal["overdue", "week"]
DUE_WITHIN: dict[str, int] = {"overdue": 0, "week": WEEK_DAYS}
# Recent enough to count as "visited on time lately" in the figures.
RECENT_DAYS = 30

# The building's grid reaches one of :scopes ("" the whole city); NULL scopes: everyone.
_SCOPE_SQL = """(CAST(:scopes AS text[]) IS NULL OR EXISTS (
    SELECT 1 FROM unnest(CAST(:scopes AS text[])) AS sc
    WHERE sc = '' OR starts_with(b.grid_code, sc)))"""


@dataclass(frozen=True)
class HouseholdFilter:
    """What ``list_households`` keeps: a grid, a building, any of some care flags, and how
    due (``overdue``: deadline passed or never met; ``week``: passes within 7 days)."""

    grid_code: str | None = None
    building_code: str | None = None
    care: tuple[str, ...] = ()
    due: DueFilter | None = None


def _check_filter(filters: HouseholdFilter) -> None:
    unknown = sorted(set(filters.care) - set(CARE_FLAGS))
    if unknown:
        raise InvalidInput(
            f"care: unknown flag(s) {', '.join(unknown)}; expected: {', '.join(CARE_FLAGS)}"
        )
    if filters.due is not None and filters.due not in DUE_WITHIN:
        raise InvalidInput(f"due: expected overdue or week, got {filters.due!r}")


def _row(r: Any) -> dict[str, Any]:
    grid = r.grid_code
    return {
        "code": r.code,
        "building_code": r.building_code,
        "unit": r.unit,
        "head_name": r.head_name,
        "phone": r.phone,
        "members": r.members,
        "care": list(r.care),
        "visit_every_days": r.cadence_days,
        "grid_code": grid,
        "community_code": grid[: CODE_DIGITS[Level.COMMUNITY]] if grid else None,
        "district_code": grid[: CODE_DIGITS[Level.DISTRICT]] if grid else None,
        "last_visit_at": r.last_visit_at,
        "last_met_at": r.last_met_at,
        "due_on": r.due_on,
        "overdue": bool(r.overdue),
        "days_overdue": r.days_overdue,
    }


def list_households(
    conn: Connection,
    *,
    filters: HouseholdFilter,
    now: datetime,
    zone: tzinfo,
    scopes: Sequence[str] | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """Current households matching ``filters`` in ``scopes``, the most overdue first (never
    met, then the earliest deadline), paged; with the day ``today`` was read as."""
    _check_filter(filters)
    where = f"""{_SCOPE_SQL}
        AND (CAST(:grid AS text) IS NULL OR b.grid_code = :grid)
        AND (CAST(:building AS text) IS NULL OR b.code = :building)
        AND (cardinality(CAST(:care AS text[])) = 0 OR h.care && CAST(:care AS text[]))"""
    due_test = "true" if filters.due is None else DUE_WITHIN_SQL
    rows = conn.execute(
        text(
            f"""
            SELECT s.*, {OVERDUE_SQL} AS overdue, {DAYS_OVERDUE_SQL} AS days_overdue,
                   count(*) OVER () AS matched
            FROM ({status_sql(where)}) s
            WHERE {due_test}
            ORDER BY s.cadence_days IS NULL, s.last_met_at IS NOT NULL, s.due_on, s.code
            LIMIT :limit OFFSET :offset
            """
        ),
        {
            "now": now,
            "tz": str(zone),
            "scopes": None if scopes is None else list(scopes),
            "grid": filters.grid_code,
            "building": filters.building_code,
            "care": list(filters.care),
            "within": DUE_WITHIN.get(filters.due or "overdue", 0),
            "limit": limit,
            "offset": offset,
        },
    ).all()
    matched = int(rows[0].matched) if rows else 0
    if not rows and offset:
        matched = _count(conn, filters=filters, now=now, zone=zone, scopes=scopes)
    return {
        "today": now.astimezone(zone).date(),
        "numberMatched": matched,
        "limit": limit,
        "offset": offset,
        "households": [_row(r) for r in rows],
    }


def _count(
    conn: Connection,
    *,
    filters: HouseholdFilter,
    now: datetime,
    zone: tzinfo,
    scopes: Sequence[str] | None,
) -> int:
    """The total of a page past the end (the window count has no row to ride on)."""
    page = list_households(
        conn, filters=filters, now=now, zone=zone, scopes=scopes, limit=1, offset=0
    )
    return int(page["numberMatched"])


def household_grid(conn: Connection, code: str) -> str | None:
    """The grid of a household's building (None: a building in no grid); ``NotFound``."""
    row = conn.execute(
        text(
            "SELECT b.grid_code FROM households h JOIN buildings b ON b.id = h.building_id "
            "WHERE h.code = :code"
        ),
        {"code": code},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no household with code {code!r}")
    return None if row.grid_code is None else str(row.grid_code)


def building_grid(conn: Connection, code: str) -> str | None:
    """The grid of a building (None: in no grid); ``NotFound`` when there is no such building."""
    row = conn.execute(
        text("SELECT grid_code FROM buildings WHERE code = :code"), {"code": code}
    ).one_or_none()
    if row is None:
        raise NotFound(f"no building with code {code!r}")
    return None if row.grid_code is None else str(row.grid_code)


def visit_figures(conn: Connection, *, level: Level, now: datetime, zone: tzinfo) -> dict[str, Any]:
    """Per unit of ``level``: current households, those with a cadence, those overdue, and
    those visited on time in the last 30 days (a ``met`` visit no later than the deadline the
    previous one set; a first visit counts as on time). Counts only, no names."""
    digits = CODE_DIGITS[level]
    rows = conn.execute(
        text(
            f"""
            WITH s AS ({status_sql("b.grid_code IS NOT NULL")}),
            met AS (
                SELECT v.household_id, v.visited_at,
                       lag(v.visited_at) OVER (
                           PARTITION BY v.household_id ORDER BY v.visited_at) AS previous
                FROM household_visits v
                WHERE v.outcome = '{VisitOutcome.MET}'
                  AND v.visited_at <= CAST(:now AS timestamptz)
            ),
            on_time AS (
                SELECT DISTINCT met.household_id
                FROM met JOIN s ON s.id = met.household_id
                WHERE s.cadence_days IS NOT NULL
                  AND (met.visited_at AT TIME ZONE CAST(:tz AS text))::date
                      > s.today - {RECENT_DAYS}
                  AND (met.previous IS NULL
                       OR (met.visited_at AT TIME ZONE CAST(:tz AS text))::date
                          <= (met.previous AT TIME ZONE CAST(:tz AS text))::date
                             + s.cadence_days)
            )
            SELECT left(s.grid_code, {digits}) AS code, u.name,
                   count(*) AS households,
                   count(*) FILTER (WHERE s.cadence_days IS NOT NULL) AS with_cadence,
                   count(*) FILTER (WHERE {OVERDUE_SQL}) AS overdue,
                   count(o.household_id) AS visited_on_time
            FROM s
            LEFT JOIN on_time o ON o.household_id = s.id
            LEFT JOIN {LEVEL_TABLE[level]} u ON u.code = left(s.grid_code, {digits})
            GROUP BY 1, 2
            ORDER BY 1
            """
        ),
        {"now": now, "tz": str(zone)},
    ).all()
    return {
        "level": level.value,
        "today": now.astimezone(zone).date(),
        "recent_days": RECENT_DAYS,
        "units": [
            {
                "code": r.code,
                "name": r.name,
                "households": int(r.households),
                "with_cadence": int(r.with_cadence),
                "overdue": int(r.overdue),
                "visited_on_time": int(r.visited_on_time),
            }
            for r in rows
        ],
    }


def overdue_buildings_geojson(
    conn: Connection,
    *,
    now: datetime,
    zone: tzinfo,
    within_days: int = 0,
    bbox: BBox | None = None,
    limit: int = 5000,
) -> dict[str, Any]:
    """Buildings with households whose visit deadline passes before ``today + within_days``
    (0: overdue now), as points (inside each footprint) with the counts: ``overdue`` and
    ``households`` with a cadence. Counts only, no names; the most overdue buildings first,
    at most ``limit``."""
    in_view, params = bbox_filter(bbox, column="b.geom")
    rows = conn.execute(
        text(
            f"""
            WITH s AS ({status_sql("h.care <> '{}' OR h.visit_every_days IS NOT NULL")}),
            per AS (
                SELECT s.building_id, count(*) AS with_cadence,
                       count(*) FILTER (WHERE {DUE_WITHIN_SQL}) AS due
                FROM s GROUP BY s.building_id
            )
            SELECT b.code, b.grid_code, per.due, per.with_cadence,
                   ST_AsGeoJSON(ST_PointOnSurface(b.geom), 7) AS geometry
            FROM per JOIN buildings b ON b.id = per.building_id
            WHERE per.due > 0 AND {in_view}
            ORDER BY per.due DESC, b.code
            LIMIT :limit
            """
        ),
        {"now": now, "tz": str(zone), "within": within_days, "limit": limit, **params},
    ).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": json.loads(r.geometry),
                "properties": {
                    "code": r.code,
                    "grid_code": r.grid_code,
                    "overdue": int(r.due),
                    "households": int(r.with_cadence),
                },
            }
            for r in rows
        ],
    }
