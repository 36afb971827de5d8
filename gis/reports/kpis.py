"""Report KPIs per grid, community or district over a time window, in one SQL statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.core.timewindow import check_window
from gis.core.vocabulary import (
    EXCLUDED_FROM_ANALYSES,
    STATUSES,
    Level,
    ReportStatus,
    code_column,
    sql_list,
)
from gis.reports.deadlines import overdue_sql, stage_overdue_sql

# Reports that turned out to be no work: neither on time nor late.
_NO_WORK_SQL = sql_list((ReportStatus.REJECTED, ReportStatus.DUPLICATE))

# Rates count only reports whose deadline has passed or that met it: a report still within its
# deadline is neither on time nor late yet. Rejected and duplicate reports are not work done;
# a closed report of imported history without the time of that step is not counted either.
# Late and overdue are the report queue's rule (gis.reports.deadlines), at ``as_of``.
_LATE_ARRIVAL = stage_overdue_sql("arrival", alias="w", now="w.at")
_LATE_RESOLUTION = stage_overdue_sql("resolution", alias="w", now="w.at")
_OVERDUE = overdue_sql(alias="w", now="w.at")
_KPIS = f"""
WITH w AS (
    SELECT r.{{column}} AS unit, r.*, f.satisfied AS rated_satisfied,
        COALESCE(CAST(:as_of AS timestamptz), now()) AS at
    FROM reports r
    LEFT JOIN report_followups f ON f.report_id = r.id
    WHERE r.status NOT IN ({sql_list(EXCLUDED_FROM_ANALYSES)})
      AND (CAST(:since AS timestamptz) IS NULL OR r.reported_at >= :since)
      AND (CAST(:until AS timestamptz) IS NULL OR r.reported_at < :until)
),
counts AS (
    SELECT unit, jsonb_object_agg(status, n) AS by_status
    FROM (SELECT unit, status, count(*) AS n FROM w GROUP BY unit, status) s
    GROUP BY unit
),
agg AS (
    SELECT unit,
        count(*) AS total,
        count(*) FILTER (WHERE arrived_at <= due_arrival_at) AS arrived_on_time,
        count(*) FILTER (WHERE status NOT IN ({_NO_WORK_SQL})
                          AND (arrived_at IS NOT NULL OR {_LATE_ARRIVAL})) AS arrival_due,
        count(*) FILTER (WHERE resolved_at <= due_resolution_at) AS resolved_on_time,
        count(*) FILTER (WHERE status NOT IN ({_NO_WORK_SQL})
                          AND (resolved_at IS NOT NULL OR {_LATE_RESOLUTION}))
            AS resolution_due,
        count(*) FILTER (WHERE {_OVERDUE}) AS overdue,
        percentile_cont(0.5) WITHIN GROUP (
            ORDER BY extract(epoch FROM closed_at - reported_at) / 60.0
        ) FILTER (WHERE status = '{ReportStatus.CLOSED}') AS median_close_minutes,
        count(*) FILTER (WHERE escalation_level <> '{Level.GRID}') AS escalated,
        count(rated_satisfied) AS rated,
        count(*) FILTER (WHERE rated_satisfied) AS satisfied
    FROM w
    GROUP BY unit
)
SELECT agg.*, counts.by_status
FROM agg JOIN counts ON agg.unit IS NOT DISTINCT FROM counts.unit
ORDER BY agg.unit NULLS LAST
"""


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def compute_kpis(
    conn: Connection,
    *,
    level: str = Level.GRID,
    since: datetime | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Counts by status, on-time arrival and resolution rates (0-1), median minutes to close,
    the share escalated, the open reports overdue now (``as_of``) and the residents'
    satisfaction rate, per unit of ``level``;
    unlocated reports form a unit of their own."""
    if level not in set(Level):
        raise InvalidInput(f"level: expected one of {', '.join(Level)}, got {level!r}")
    check_window(since, until)
    column = code_column(Level(level))
    rows = conn.execute(
        text(_KPIS.format(column=column)),
        {"since": since, "until": until, "as_of": as_of},
    ).all()
    units = []
    for row in rows:
        units.append(
            {
                level: row.unit,
                "total": row.total,
                "by_status": {s: int((row.by_status or {}).get(s, 0)) for s in STATUSES},
                "on_time_arrival_rate": _rate(row.arrived_on_time, row.arrival_due),
                "on_time_closure_rate": _rate(row.resolved_on_time, row.resolution_due),
                "median_close_minutes": (
                    round(row.median_close_minutes, 1)
                    if row.median_close_minutes is not None
                    else None
                ),
                "escalated_share": _rate(row.escalated, row.total),
                "overdue": row.overdue,
                # 满意率: residents satisfied among those who rated the outcome of a closed
                # report from their follow-up link (gis/reports/followup.py).
                "rated": row.rated,
                "satisfaction_rate": _rate(row.satisfied, row.rated),
            }
        )
    return {
        "level": level,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "units": units,
    }
