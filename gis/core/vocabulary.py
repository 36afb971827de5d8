"""The product's shared vocabulary: report statuses, administrative levels, worker roles.

A leaf module: it imports nothing of gridpatrol, so every other module (tables, SQL, maps,
Open311, KPIs) can take its words from here without import cycles.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise


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
    # Marked spam or invalid by an admin: kept (and its trail), but out of every analysis.
    INVALID = "invalid"


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
# No workflow action leads out of these (an admin may still mark one invalid: spam).
TERMINAL_STATUSES: tuple[str, ...] = (
    ReportStatus.REJECTED,
    ReportStatus.DUPLICATE,
    ReportStatus.CLOSED,
    ReportStatus.INVALID,
)
# Reports no analysis counts (hotspots, heat layers, KPIs): spam is not a place's problem.
EXCLUDED_FROM_ANALYSES: tuple[str, ...] = (ReportStatus.INVALID,)
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
# The level directly above each level but the top one.
PARENT_LEVEL: dict[Level, Level] = {child: parent for parent, child in pairwise(Level)}
# Escalation goes bottom up: grid → community → sub-district → district.
ESCALATION_ORDER: tuple[Level, ...] = (
    Level.GRID,
    Level.COMMUNITY,
    Level.SUBDISTRICT,
    Level.DISTRICT,
)


def code_column(level: Level) -> str:
    """The column naming a unit of ``level`` in other tables (``district_code``, …)."""
    return f"{level.value}_code"


def code_prefix(code: str, level: Level) -> str:
    """The code of the unit of ``level`` containing the unit ``code`` names (its prefix)."""
    return code[: CODE_DIGITS[level]]


class WorkerRole(StrEnum):
    """What a worker does; grid workers are dispatched to first."""

    GRID_WORKER = "grid_worker"
    PARTY_MEMBER = "party_member"
    BUILDING_LEADER = "building_leader"


WORKER_ROLES: tuple[str, ...] = tuple(WorkerRole)


class PhotoSource(StrEnum):
    """Who attached a photo to a report: the resident at intake, a worker (with an arrive or
    a resolve), or staff at the desk."""

    RESIDENT = "resident"
    WORKER = "worker"
    STAFF = "staff"


PHOTO_SOURCES: tuple[str, ...] = tuple(PhotoSource)
# The formats a stored photo has (every photo is re-encoded into one of them).
PHOTO_CONTENT_TYPES: tuple[str, ...] = ("image/jpeg", "image/png")


class CareFlag(StrEnum):
    """Why a household is visited on a cadence (家访 of the field)."""

    ELDERLY_ALONE = "elderly_alone"
    DISABLED = "disabled"
    LEFT_BEHIND_CHILD = "left_behind_child"
    LOW_INCOME = "low_income"
    OTHER = "other"


CARE_FLAGS: tuple[str, ...] = tuple(CareFlag)
# Days between care visits each flag asks for; a household's cadence is the shortest of its
# flags' unless its ``visit_every_days`` says otherwise; no flag, no cadence.
CARE_VISIT_DAYS: dict[str, int] = {
    CareFlag.ELDERLY_ALONE: 7,
    CareFlag.DISABLED: 14,
    CareFlag.LEFT_BEHIND_CHILD: 14,
    CareFlag.LOW_INCOME: 30,
    CareFlag.OTHER: 30,
}


class VisitOutcome(StrEnum):
    """How a visit went; only ``met`` resets the household's cadence."""

    MET = "met"
    NOT_HOME = "not_home"
    REFUSED = "refused"


VISIT_OUTCOMES: tuple[str, ...] = tuple(VisitOutcome)


def sql_list(values: tuple[str, ...]) -> str:
    """``'a', 'b'`` for an SQL ``IN (...)`` of fixed vocabulary words (never user input)."""
    return ", ".join(f"'{value}'" for value in values)
