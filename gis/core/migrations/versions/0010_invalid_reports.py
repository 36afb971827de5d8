"""Reports marked invalid: the status an admin's ``mark_invalid`` leads to (spam, nothing real).

The report stays, with its audit trail; analyses leave it out. Only the status check changes.

Revision ID: 0010_invalid_reports
Revises: 0008_track_content (the lead re-chains it after the other branches' migrations)
"""

from __future__ import annotations

from alembic import op

revision = "0010_invalid_reports"
down_revision = "0014_households"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration describes the schema of its own time.
_BEFORE = (
    "reported",
    "accepted",
    "rejected",
    "duplicate",
    "dispatched",
    "in_progress",
    "resolved",
    "verified",
    "closed",
)
_AFTER = (*_BEFORE, "invalid")


def _check(statuses: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{s}'" for s in statuses)
    return (
        "ALTER TABLE reports DROP CONSTRAINT IF EXISTS reports_status; "
        f"ALTER TABLE reports ADD CONSTRAINT reports_status CHECK (status IN ({listed}));"
    )


def upgrade() -> None:
    op.execute(_check(_AFTER))


def downgrade() -> None:
    op.execute(_check(_BEFORE))
