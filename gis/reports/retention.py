"""Retention of residents' contacts: blank them on reports closed long enough ago.

The report stays (category, place, times, statuses, the whole event log): only the reporter's
name, phone and photo go, with the request hash made from them (a hash of a phone number is
easily reversed). Older versions recorded the reporter's name as the actor of the intake
event; the append-only trail admits exactly one change for this — that actor becomes
``resident`` — and only inside this function's transaction (migration 0005_accounts).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.core.vocabulary import TERMINAL_STATUSES, sql_list

_PURGE = f"""
WITH purged AS (
    SELECT id, reporter_name FROM reports
    WHERE status IN ({sql_list(TERMINAL_STATUSES)})
      AND closed_at < now() - make_interval(days => :days)
      AND (reporter_name IS NOT NULL OR reporter_phone IS NOT NULL OR photo_url IS NOT NULL
           OR request_hash IS NOT NULL)
    FOR UPDATE
),
redacted AS (
    UPDATE report_events e SET actor = 'resident'
    FROM purged p
    WHERE e.report_id = p.id AND e.action = 'report' AND e.actor = p.reporter_name
      AND e.actor <> 'resident'
    RETURNING e.id
),
blanked AS (
    UPDATE reports r
    SET reporter_name = NULL, reporter_phone = NULL, photo_url = NULL, request_hash = NULL
    FROM purged p WHERE r.id = p.id
    RETURNING r.id
)
SELECT (SELECT count(*) FROM blanked), (SELECT count(*) FROM redacted)
"""


@dataclass(frozen=True)
class PurgeResult:
    """How many closed reports lost their contact, and intake events their resident's name."""

    reports: int
    events: int
    older_than_days: int


def purge_contacts(conn: Connection, *, older_than_days: int) -> PurgeResult:
    """Blank the reporter's contact on reports closed more than ``older_than_days`` days ago.

    Closed means a terminal status (closed, rejected, duplicate). Run in a transaction.
    """
    if older_than_days < 0:
        raise InvalidInput(f"older-than: must be 0 or more days, got {older_than_days}")
    # Lets the audit trail's trigger accept the one redaction above, in this transaction only.
    conn.execute(text("SET LOCAL gridpatrol.redact_contacts = 'on'"))
    reports, events = conn.execute(text(_PURGE), {"days": older_than_days}).one()
    conn.execute(text("SET LOCAL gridpatrol.redact_contacts = 'off'"))
    return PurgeResult(reports=int(reports), events=int(events), older_than_days=older_than_days)
