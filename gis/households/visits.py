"""Care visits: recording one, and a household's visits.

A visit has a time (``visited_at``, aware; not in the future), the visiting worker (free text:
a name or worker code), an outcome (``met``, ``not_home``, ``refused``) and a note. Only ``met``
resets the cadence (``gis.households.cadence``). The note may hold personal data: visits are
read under the same permission as the household.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import Conflict, InvalidInput, NotFound
from gis.core.vocabulary import VISIT_OUTCOMES

# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=5)
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class VisitInput:
    """A visit as recorded in the field."""

    visited_at: datetime
    outcome: str
    worker: str | None = None
    note: str | None = None


_COLUMNS = (
    "v.id, h.code AS household_code, v.visited_at, v.worker, v.outcome, v.note, "
    "v.recorded_by, v.recorded_at"
)


def _check(visit: VisitInput, now: datetime) -> None:
    if visit.visited_at.utcoffset() is None:
        raise InvalidInput("visited_at: give a time zone offset (e.g. +08:00)")
    if visit.visited_at > now + CLOCK_SKEW:
        raise InvalidInput(
            f"visited_at: {visit.visited_at.isoformat()} is in the future; record a visit "
            "once it happened"
        )
    if visit.outcome not in VISIT_OUTCOMES:
        raise InvalidInput(
            f"outcome: expected one of {', '.join(VISIT_OUTCOMES)}, got {visit.outcome!r}"
        )
    if visit.note is not None and len(visit.note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"note: at most {MAX_NOTE_CHARS} characters")


def record_visit(
    conn: Connection, code: str, visit: VisitInput, *, recorded_by: str | None, now: datetime
) -> dict[str, Any]:
    """Store a visit to the household ``code`` (``NotFound``; ``Conflict`` if it moved out)."""
    _check(visit, now)
    household = conn.execute(
        text("SELECT id, moved_out_at FROM households WHERE code = :code FOR UPDATE"),
        {"code": code},
    ).one_or_none()
    if household is None:
        raise NotFound(f"no household with code {code!r}")
    if household.moved_out_at is not None:
        raise Conflict(f"household {code!r} moved out on {household.moved_out_at.date()}")
    row = conn.execute(
        text(
            f"""
            WITH v AS (
                INSERT INTO household_visits
                    (household_id, visited_at, worker, outcome, note, recorded_by)
                VALUES (:hid, :visited_at, :worker, :outcome, :note, :recorded_by)
                RETURNING *
            )
            SELECT {_COLUMNS} FROM v JOIN households h ON h.id = v.household_id
            """
        ),
        {
            "hid": household.id,
            "visited_at": visit.visited_at,
            "worker": visit.worker,
            "outcome": visit.outcome,
            "note": visit.note,
            "recorded_by": recorded_by,
        },
    ).one()
    return dict(row._mapping)


def list_visits(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The household's visits, newest first (``NotFound`` for an unknown household)."""
    rows = conn.execute(
        text(
            f"""
            SELECT {_COLUMNS}
            FROM households h LEFT JOIN household_visits v ON v.household_id = h.id
            WHERE h.code = :code
            ORDER BY v.visited_at DESC NULLS LAST, v.id DESC
            """
        ),
        {"code": code},
    ).all()
    if not rows:
        raise NotFound(f"no household with code {code!r}")
    return [dict(r._mapping) for r in rows if r.id is not None]


# Who recorded the visits of a generated history (so reloading it adds nothing).
HISTORY_RECORDER = "visit-history"


def import_visit_history(conn: Connection, path: Path, *, now: datetime, zone: tzinfo) -> int:
    """Load a generated city's visit history, relative to ``now``: a CSV with ``household``,
    ``days_ago``, ``time`` (local HH:MM in ``zone``), ``worker``, ``outcome``, ``note``.

    For the demo city, whose visits must stay recent whenever it is loaded. Skipped when a
    history was loaded before; returns the visits added.
    """
    if conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM household_visits WHERE recorded_by = :by)"),
        {"by": HISTORY_RECORDER},
    ).scalar_one():
        return 0
    today = now.astimezone(zone).date()
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            day = today - timedelta(days=int(row["days_ago"]))
            at = datetime.combine(day, time.fromisoformat(row["time"]), tzinfo=zone)
            rows.append(
                {
                    "household": row["household"],
                    "visited_at": min(at, now).isoformat(),
                    "worker": row["worker"] or None,
                    "outcome": row["outcome"],
                    "note": row["note"] or None,
                }
            )
    added = conn.execute(
        text(
            """
            INSERT INTO household_visits
                (household_id, visited_at, worker, outcome, note, recorded_by)
            SELECT h.id, s.visited_at, s.worker, s.outcome, s.note, :by
            FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s(
                household text, visited_at timestamptz, worker text, outcome text, note text)
            JOIN households h ON h.code = s.household
            """
        ),
        {"rows": json.dumps(rows), "by": HISTORY_RECORDER},
    )
    return int(added.rowcount)
