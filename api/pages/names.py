"""What the pages call the workflow's codes, in one place for every page: statuses, actions
and events, and the bundled categories, each marked for the catalogs (``N_``) and translated
where it is shown (``gettext`` of the request's language)."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction")
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


# The bundled categories' names (categories.toml), for the catalogs; another file's names are
# shown as they are written.
CATEGORY_NAMES = (
    N_("Sanitation"),
    N_("Public security"),
    N_("Neighbour dispute"),
    N_("Parking"),
    N_("Building leak"),
    N_("Road or manhole damage"),
    N_("Waste sorting point"),
    N_("Elderly care"),
    N_("Major structural repair"),
)
# A report's status as staff name it (the desks).
STATUS_NAMES: dict[str, str] = {
    "reported": N_("reported"),
    "accepted": N_("accepted"),
    "rejected": N_("rejected"),
    "duplicate": N_("duplicate"),
    "dispatched": N_("dispatched"),
    "in_progress": N_("in progress"),
    "resolved": N_("resolved"),
    "verified": N_("verified"),
    "closed": N_("closed"),
    "invalid": N_("invalid (spam)"),
}
# A report's status as its resident reads it (the follow-up page).
RESIDENT_STATUS_NAMES: dict[str, str] = {
    "reported": N_("Received"),
    "accepted": N_("Accepted"),
    "rejected": N_("Rejected"),
    "duplicate": N_("Merged with an earlier report"),
    "dispatched": N_("A grid worker is on the way"),
    "in_progress": N_("Being handled on site"),
    "resolved": N_("Resolved, being checked"),
    "verified": N_("Checked"),
    "closed": N_("Closed"),
    "invalid": N_("Not taken up"),
}
# An action as the button that takes it (gis.reports.actions.ACTIONS).
ACTION_NAMES: dict[str, str] = {
    "accept": N_("Accept"),
    "reject": N_("Reject"),
    "confirm_duplicate": N_("Confirm duplicate"),
    "dispatch": N_("Dispatch"),
    "arrive": N_("Arrived"),
    "resolve": N_("Resolve"),
    "verify": N_("Verify"),
    "reopen": N_("Reopen"),
    "close": N_("Close"),
    "escalate": N_("Escalate"),
    "mark_invalid": N_("Mark invalid (spam)"),
}
# An event of a report's trail (report_events.action): what happened.
EVENT_NAMES: dict[str, str] = {
    "report": N_("Report received"),
    "accept": N_("Accepted"),
    "reject": N_("Rejected"),
    "confirm_duplicate": N_("Merged with an earlier report"),
    "dispatch": N_("Sent to a grid worker"),
    "arrive": N_("A grid worker arrived"),
    "resolve": N_("Resolved"),
    "verify": N_("Checked"),
    "reopen": N_("Reopened"),
    "close": N_("Closed"),
    "escalate": N_("Passed up to a higher level"),
    "mark_invalid": N_("Marked invalid (spam)"),
}
# Who attached a photo to a report (the desk's thumbnails say it).
PHOTO_SOURCE_NAMES: dict[str, str] = {
    "resident": N_("resident"),
    "worker": N_("grid worker"),
    "staff": N_("staff"),
}
