"""Retention of households' personal data once they moved out (the ``purge-contacts`` of the
household registry).

A household that left its building (``moved_out_at``, from the registry's ``moved_out``
column) has no cadence any more; after the retention period its head's name, phone, member
count and care flags are blanked, and so are the notes of its visits. The household's code,
building and the visits' times and outcomes stay, so past figures still add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput

_PURGE = """
WITH gone AS (
    SELECT id FROM households
    WHERE moved_out_at < CAST(:before AS timestamptz)
      AND (head_name IS NOT NULL OR phone IS NOT NULL OR members IS NOT NULL
           OR care <> '{}' OR visit_every_days IS NOT NULL)
    FOR UPDATE
),
notes AS (
    UPDATE household_visits v SET note = NULL
    FROM households h
    WHERE v.household_id = h.id AND h.moved_out_at < CAST(:before AS timestamptz)
      AND v.note IS NOT NULL
    RETURNING v.id
),
blanked AS (
    UPDATE households h
    SET head_name = NULL, phone = NULL, members = NULL, care = '{}',
        visit_every_days = NULL, updated_at = now()
    FROM gone WHERE h.id = gone.id
    RETURNING h.id
)
SELECT (SELECT count(*) FROM blanked), (SELECT count(*) FROM notes)
"""


@dataclass(frozen=True)
class HouseholdPurge:
    """How many moved-out households lost their personal data, and visits their notes."""

    households: int
    visit_notes: int
    moved_out_before: str


def purge_moved_out(conn: Connection, *, before: datetime) -> HouseholdPurge:
    """Blank name, phone, members and care flags of households that moved out before
    ``before`` (aware), and their visits' notes. Run in a transaction."""
    if before.utcoffset() is None:
        raise InvalidInput("moved-out-before: give a time zone (or a date, read locally)")
    households, notes = conn.execute(text(_PURGE), {"before": before}).one()
    return HouseholdPurge(
        households=int(households), visit_notes=int(notes), moved_out_before=before.isoformat()
    )
