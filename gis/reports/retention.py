"""Retention of residents' contacts: blank them on reports closed long enough ago.

The report stays (category, place, times, statuses, the whole event log): only the reporter's
name, phone and photo go, with the request hash made from them (a hash of a phone number is
easily reversed), and the photos the resident attached (a face, a plate, a home); the photos
staff and workers took of the work stay. A photo's file goes once no photo row names its hash
any more (files are shared by content, ``gis.reports.photos``), after the transaction.

Older versions recorded the reporter's name as the actor of the intake event; the append-only
trail admits exactly one change for this — that actor becomes ``resident`` — and only inside
this function's transaction (migration 0005_accounts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from gis.core.errors import InvalidInput
from gis.core.settings import Settings
from gis.core.vocabulary import TERMINAL_STATUSES, PhotoSource, sql_list
from gis.reports.photos import photo_directory, photo_file

_PURGE = f"""
WITH purged AS (
    SELECT r.id, r.reporter_name FROM reports r
    WHERE r.status IN ({sql_list(TERMINAL_STATUSES)})
      AND r.closed_at < now() - make_interval(days => :days)
      AND (r.reporter_name IS NOT NULL OR r.reporter_phone IS NOT NULL
           OR r.photo_url IS NOT NULL OR r.request_hash IS NOT NULL
           OR EXISTS (SELECT FROM report_photos ph
                      WHERE ph.report_id = r.id AND ph.source = '{PhotoSource.RESIDENT}'))
    FOR UPDATE
),
photos AS (
    DELETE FROM report_photos ph USING purged p
    WHERE ph.report_id = p.id AND ph.source = '{PhotoSource.RESIDENT}'
    RETURNING ph.sha256, ph.content_type
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
SELECT (SELECT count(*) FROM blanked), (SELECT count(*) FROM redacted),
       (SELECT count(*) FROM photos),
       (SELECT coalesce(array_agg(DISTINCT sha256 || ' ' || content_type), '{{}}') FROM photos)
"""


@dataclass(frozen=True)
class PurgeResult:
    """How many closed reports lost their contact, intake events their resident's name, and
    resident's photos were deleted; ``files``: the photo files to remove once committed."""

    reports: int
    events: int
    photos: int
    older_than_days: int
    files: tuple[tuple[str, str], ...] = field(default=(), repr=False)


def purge_contacts(conn: Connection, *, older_than_days: int) -> PurgeResult:
    """Blank the reporter's contact on reports closed more than ``older_than_days`` days ago.

    Closed means a terminal status (closed, rejected, duplicate). Run in a transaction.
    """
    if older_than_days < 0:
        raise InvalidInput(f"older-than: must be 0 or more days, got {older_than_days}")
    # Lets the audit trail's trigger accept the one redaction above, in this transaction only.
    conn.execute(text("SET LOCAL gridpatrol.redact_contacts = 'on'"))
    reports, events, photos, files = conn.execute(text(_PURGE), {"days": older_than_days}).one()
    conn.execute(text("SET LOCAL gridpatrol.redact_contacts = 'off'"))
    return PurgeResult(
        reports=int(reports),
        events=int(events),
        photos=int(photos),
        older_than_days=older_than_days,
        files=tuple((sha, kind) for sha, kind in (f.split(" ", 1) for f in sorted(files))),
    )


def remove_photo_files(
    engine: Engine, files: Iterable[tuple[str, str]], *, settings: Settings | None = None
) -> int:
    """Delete the files of purged photos (``PurgeResult.files``) that no photo row names any
    more (the same picture may have been sent for another report); returns how many went.
    Call after the purge committed: a file goes only once its rows are surely gone."""
    wanted = list(files)
    if not wanted:
        return 0
    with engine.connect() as conn:
        still = set(
            conn.execute(
                text("SELECT DISTINCT sha256 FROM report_photos WHERE sha256 = ANY(:sha)"),
                {"sha": [sha for sha, _ in wanted]},
            ).scalars()
        )
    directory = photo_directory(settings)
    removed = 0
    for sha, content_type in wanted:
        if sha in still:
            continue
        try:
            photo_file(directory, sha, content_type).unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed
