"""A resident's private follow-up link: the report's status and events, and the rating (回访).

A report sent from the resident's page (``/app/report``) gets a random token
(``secrets.token_urlsafe``, 256 bits); the link carries it and the database keeps only its
SHA-256, so neither a database reader nor a guess opens someone's link. Whoever holds the link
sees the report's public view and its events without actors, notes or worker, and once the
report is closed rates the outcome once: satisfied or not, with a note. The ratings are the
KPIs' satisfaction rate (``gis.reports.kpis``). While the report is open (someone still has to
act on site), the link also takes more photos: the one forgotten, or the problem grown.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import Conflict, InvalidInput, NotFound
from gis.core.settings import Settings
from gis.core.vocabulary import OPEN_STATUSES, PhotoSource, ReportStatus
from gis.reports.lifecycle import list_events
from gis.reports.listing import get_report, public_report
from gis.reports.photos import store_photos

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 100
MAX_RATING_NOTE_CHARS = 2000
# What the follow-up page shows of an event: what happened and when, never who or their note.
PUBLIC_EVENT_FIELDS = ("action", "from_status", "to_status", "at")
# What it shows of the report: no contact, no worker.
PUBLIC_REPORT_FIELDS = (
    "id",
    "category",
    "description",
    "status",
    "reported_at",
    "updated_at",
    "closed_at",
    "located",
    "district_code",
    "subdistrict_code",
    "community_code",
    "grid_code",
    "due_arrival_at",
    "due_resolution_at",
    "arrived_at",
    "resolved_at",
    "lat",
    "lon",
)


class AlreadyRated(Conflict):
    """The report's outcome was rated already: a rating is given once."""


class NotClosedYet(Conflict):
    """The report is not closed: its outcome cannot be rated yet."""


class NoLongerOpen(Conflict):
    """The report is solved or closed: photos of the problem come too late."""


@dataclass(frozen=True)
class FollowUp:
    """What the link shows: the report's public fields, its events, the rating if any."""

    report: dict[str, Any]
    events: list[dict[str, Any]]
    satisfied: bool | None
    rating_note: str | None
    rated_at: Any

    @property
    def can_rate(self) -> bool:
        return self.satisfied is None and self.report["status"] == ReportStatus.CLOSED


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_followup(conn: Connection, report_id: int) -> str:
    """A new follow-up token for ``report_id`` (its hash stored); a report has one link, so a
    second call (a replayed submission) replaces it: the latest answer's link is the valid one.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    conn.execute(
        text(
            "INSERT INTO report_followups (report_id, token_sha256) VALUES (:id, :hash) "
            "ON CONFLICT (report_id) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256"
        ),
        {"id": report_id, "hash": token_hash(token)},
    )
    return token


def _find(conn: Connection, token: str, *, lock: bool = False) -> Any:
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise NotFound("follow-up link: no report has this link")
    row = conn.execute(
        text(
            "SELECT report_id, satisfied, rating_note, rated_at FROM report_followups "
            "WHERE token_sha256 = :hash" + (" FOR UPDATE" if lock else "")
        ),
        {"hash": token_hash(token)},
    ).one_or_none()
    if row is None:
        raise NotFound("follow-up link: no report has this link (mistyped or incomplete?)")
    return row


def read_followup(conn: Connection, token: str) -> FollowUp:
    """The report behind ``token`` as its follow-up link shows it; ``NotFound`` for a bad one."""
    row = _find(conn, token)
    report = public_report(get_report(conn, int(row.report_id)))
    events = [
        {key: event.get(key) for key in PUBLIC_EVENT_FIELDS}
        for event in list_events(conn, int(row.report_id))
    ]
    return FollowUp(
        report={key: report.get(key) for key in PUBLIC_REPORT_FIELDS},
        events=events,
        satisfied=row.satisfied,
        rating_note=row.rating_note,
        rated_at=row.rated_at,
    )


def rate_outcome(conn: Connection, token: str, *, satisfied: bool, note: str | None) -> int:
    """Store the resident's rating of a closed report once; returns the report id.

    ``NotFound`` for a bad token, ``NotClosedYet`` before the report is closed,
    ``AlreadyRated`` the second time, ``InvalidInput`` for a note too long. Run in a
    transaction: the row is locked, so two concurrent ratings store one.
    """
    cleaned = (note or "").strip() or None
    if cleaned is not None and len(cleaned) > MAX_RATING_NOTE_CHARS:
        raise InvalidInput(f"note: at most {MAX_RATING_NOTE_CHARS} characters, got {len(cleaned)}")
    row = _find(conn, token, lock=True)
    status = conn.execute(
        text("SELECT status FROM reports WHERE id = :id"), {"id": row.report_id}
    ).scalar_one()
    if row.satisfied is not None:
        raise AlreadyRated(f"report {row.report_id}: its outcome was rated already")
    if status != ReportStatus.CLOSED:
        raise NotClosedYet(
            f"report {row.report_id} is {status}: its outcome can be rated once it is closed"
        )
    conn.execute(
        text(
            "UPDATE report_followups SET satisfied = :satisfied, rating_note = :note, "
            "rated_at = now() WHERE report_id = :id"
        ),
        {"satisfied": satisfied, "note": cleaned, "id": row.report_id},
    )
    return int(row.report_id)


def add_followup_photos(
    conn: Connection,
    token: str,
    photos: Sequence[bytes],
    *,
    settings: Settings | None = None,
    names: Sequence[str] | None = None,
) -> int:
    """Attach the resident's ``photos`` to the report behind ``token`` (all or none, as
    ``store_photos``: at most 6 at once and 20 a report); returns the report id.

    ``NotFound`` for a bad token, ``NoLongerOpen`` once the report is solved or closed,
    ``PhotoRefused`` naming a refused photo. Run in a transaction (the report is locked)."""
    row = _find(conn, token)
    status = conn.execute(
        text("SELECT status FROM reports WHERE id = :id FOR UPDATE"), {"id": row.report_id}
    ).scalar_one()
    if status not in OPEN_STATUSES:
        raise NoLongerOpen(
            f"report {row.report_id} is {status}: photos can be added while it is open"
        )
    store_photos(
        conn,
        int(row.report_id),
        photos,
        source=PhotoSource.RESIDENT,
        settings=settings,
        names=names,
    )
    return int(row.report_id)
