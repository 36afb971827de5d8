"""The dispatcher's queue: the reports of a scope that still need someone, overdue first.

A report's next deadline is its arrival deadline until someone arrives, then its resolution
deadline. The queue puts overdue reports first, then the others by that deadline (the nearest
first), so the top of the page is always what needs acting on now. Paged; the scope is the
principal's (``gis.access.scope.scope_condition``), None for the whole city.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from gis.access.scope import scope_condition
from gis.core.errors import InvalidInput
from gis.core.vocabulary import OPEN_STATUSES, STATUSES
from gis.reports.listing import _REPORT_SELECT, _report_dict

_NEXT_DUE = "(CASE WHEN r.arrived_at IS NULL THEN r.due_arrival_at ELSE r.due_resolution_at END)"
MAX_QUEUE_PAGE = 200


def dispatch_queue(
    conn: Connection,
    *,
    scopes: Sequence[str] | None,
    statuses: Sequence[str] = OPEN_STATUSES,
    category: str | None = None,
    limit: int = 25,
    offset: int = 0,
    as_of: datetime | None = None,
    worker_code: str | None = None,
) -> dict[str, Any]:
    """A page of the queue: ``reports`` (each with ``next_due_at``) and ``total``; with
    ``worker_code``, only the reports dispatched to that worker (a grid worker's own list)."""
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown or not statuses:
        raise InvalidInput(
            f"status: unknown status {(unknown or [''])[0]!r}; "
            f"expected one of: {', '.join(STATUSES)}"
        )
    if not 1 <= limit <= MAX_QUEUE_PAGE:
        raise InvalidInput(f"limit: must be between 1 and {MAX_QUEUE_PAGE}")
    if offset < 0:
        raise InvalidInput("offset: must not be negative")
    clauses = ["r.status = ANY(:statuses)"]
    params: dict[str, Any] = {"statuses": list(statuses), "as_of": as_of}
    if category is not None:
        clauses.append("r.category = :category")
        params["category"] = category
    if worker_code is not None:
        clauses.append("r.worker_id = (SELECT w.id FROM workers w WHERE w.code = :worker_code)")
        params["worker_code"] = worker_code
    if scopes is not None:
        clauses.append(scope_condition("r"))
        params["scopes"] = list(scopes)
    where = " AND ".join(clauses)
    rows = conn.execute(
        text(
            f"SELECT q.*, q.next_due AS next_due_at FROM ("
            f"{_REPORT_SELECT.replace('SELECT ', f'SELECT {_NEXT_DUE} AS next_due, ', 1)}"
            f" WHERE {where}) q"
            " ORDER BY COALESCE(q.arrival_overdue OR q.resolution_overdue, false) DESC,"
            " q.next_due ASC NULLS LAST, q.id LIMIT :limit OFFSET :offset"
        ),
        params | {"limit": limit, "offset": offset},
    ).all()
    total = conn.execute(text(f"SELECT count(*) FROM reports r WHERE {where}"), params)
    reports = []
    for row in rows:
        report = _report_dict(row, include_contact=False)
        report["next_due_at"] = row.next_due_at
        reports.append(report)
    return {"reports": reports, "total": int(total.scalar_one()), "limit": limit, "offset": offset}
