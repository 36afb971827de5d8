"""When a report is due and when it is overdue: one rule for the queue, KPIs, planner and maps.

Every report gets two deadlines from its category when it is taken in or imported: on site by
``due_arrival_at`` and solved by ``due_resolution_at`` (minutes after the report). An open
report is *due* by the arrival deadline until someone is on site, then by the resolution
deadline; it is *overdue* once that deadline has passed. The report list (``overdue=true``),
the KPIs' late counts, the patrol planner's stop deadlines and the maps read these
expressions, so they agree on every report.
"""

from __future__ import annotations

from gis.core.vocabulary import OPEN_STATUSES, sql_list

_OPEN_SQL = sql_list(OPEN_STATUSES)


def due_sql(alias: str = "r") -> str:
    """The deadline running now for report ``alias``: arrival until on site, then resolution."""
    return (
        f"(CASE WHEN {alias}.arrived_at IS NULL THEN {alias}.due_arrival_at "
        f"ELSE {alias}.due_resolution_at END)"
    )


def stage_overdue_sql(kind: str, *, alias: str = "r", now: str = "now()") -> str:
    """True when open report ``alias`` has passed its ``kind`` (arrival, resolution) deadline
    without that step done."""
    done = "arrived_at" if kind == "arrival" else "resolved_at"
    return (
        f"({alias}.status IN ({_OPEN_SQL}) AND {alias}.{done} IS NULL "
        f"AND {now} > {alias}.due_{kind}_at)"
    )


def overdue_sql(*, alias: str = "r", now: str = "now()") -> str:
    """True when open report ``alias`` is past the deadline running now (``due_sql``)."""
    return f"({alias}.status IN ({_OPEN_SQL}) AND {now} > {due_sql(alias)})"
