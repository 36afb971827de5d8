"""The product's shared vocabulary: report statuses and administrative levels.

A leaf module: it imports nothing of gridpatrol, so every other module (tables, SQL, maps,
Open311, KPIs) can take its words from here without import cycles.
"""

from __future__ import annotations

from enum import StrEnum


class ReportStatus(StrEnum):
    """Where a report stands in its lifecycle (see ``gis.reports.actions``)."""

    REPORTED = "reported"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"


# Every status, in lifecycle order (the order of the enum).
STATUSES: tuple[str, ...] = tuple(ReportStatus)

# "Open" means one thing everywhere (maps, Open311, KPIs, patrol stops, duplicates): someone
# still has to act on site. A resolved or verified report waits only for paperwork, so it is
# not open; Open311 calls it closed.
OPEN_STATUSES: tuple[str, ...] = (
    ReportStatus.REPORTED,
    ReportStatus.ACCEPTED,
    ReportStatus.DISPATCHED,
    ReportStatus.IN_PROGRESS,
)
# No action leads out of these.
TERMINAL_STATUSES: tuple[str, ...] = (
    ReportStatus.REJECTED,
    ReportStatus.DUPLICATE,
    ReportStatus.CLOSED,
)
# Someone is on it: counted as a worker's load when dispatching.
ASSIGNED_STATUSES: tuple[str, ...] = (ReportStatus.DISPATCHED, ReportStatus.IN_PROGRESS)


class Level(StrEnum):
    """Administrative levels, top down; each unit's code is a prefix of its children's."""

    DISTRICT = "district"
    SUBDISTRICT = "subdistrict"
    COMMUNITY = "community"
    GRID = "grid"


# Digits of a unit code at each level (6-digit district + 3 + 3 + 3).
CODE_DIGITS: dict[Level, int] = {
    Level.DISTRICT: 6,
    Level.SUBDISTRICT: 9,
    Level.COMMUNITY: 12,
    Level.GRID: 15,
}
# The table (and layer name) holding each level's polygons.
LEVEL_TABLE: dict[Level, str] = {
    Level.DISTRICT: "districts",
    Level.SUBDISTRICT: "subdistricts",
    Level.COMMUNITY: "communities",
    Level.GRID: "grids",
}
TABLE_LEVEL: dict[str, Level] = {table: level for level, table in LEVEL_TABLE.items()}
# Escalation goes bottom up: grid → community → sub-district → district.
ESCALATION_ORDER: tuple[Level, ...] = (
    Level.GRID,
    Level.COMMUNITY,
    Level.SUBDISTRICT,
    Level.DISTRICT,
)


def parent_level(level: Level) -> Level | None:
    """The level above ``level`` (``None`` for a district)."""
    order = list(Level)
    index = order.index(level)
    return order[index - 1] if index > 0 else None


def sql_list(values: tuple[str, ...]) -> str:
    """``'a', 'b'`` for an SQL ``IN (...)`` of fixed vocabulary words (never user input)."""
    return ", ".join(f"'{value}'" for value in values)
