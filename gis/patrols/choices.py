"""What a patrol leader may choose from when planning: the workers, service stations and
facility kinds within the account's scope (the patrol leader's page lists them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from gis.core.vocabulary import CODE_DIGITS, Level
from gis.reports.workers import list_workers

STATION_KIND = "service_station"
_DISTRICT_DIGITS = CODE_DIGITS[Level.DISTRICT]


@dataclass(frozen=True)
class PlanningChoices:
    """Workers (with their home district: the district of their first grid), the stations
    patrollers may start from, and the facility kinds there are to visit."""

    workers: list[dict[str, Any]]
    stations: list[dict[str, Any]]
    facility_kinds: list[str]


def planning_choices(conn: Connection, *, scopes: Sequence[str] | None) -> PlanningChoices:
    """The choices of an account reaching ``scopes`` (unit-code prefixes; None: everywhere)."""
    workers = list_workers(conn, scopes=scopes)
    for worker in workers:
        worker["district"] = worker["grids"][0][:_DISTRICT_DIGITS] if worker["grids"] else None
    stations = conn.execute(
        text(
            """
            SELECT f.code, f.name, f.grid_code FROM facilities f
            WHERE f.kind = :kind
              AND (CAST(:scopes AS text[]) IS NULL OR EXISTS (
                   SELECT 1 FROM unnest(CAST(:scopes AS text[])) AS s
                   WHERE starts_with(coalesce(f.grid_code, ''), s)))
            ORDER BY f.code
            """
        ),
        {"kind": STATION_KIND, "scopes": None if scopes is None else list(scopes)},
    ).all()
    kinds = conn.execute(text("SELECT DISTINCT kind FROM facilities ORDER BY kind")).scalars()
    return PlanningChoices(
        workers=workers,
        stations=[dict(r._mapping) for r in stations],
        facility_kinds=list(kinds),
    )
