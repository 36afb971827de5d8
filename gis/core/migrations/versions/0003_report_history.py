"""Report history: an external id so re-importing the same history duplicates nothing.

Revision ID: 0003_report_history
Revises: 0002_report_lifecycle (the lead re-chains it after the other branches' migrations)
"""

from __future__ import annotations

from alembic import op

revision = "0003_report_history"
down_revision = "0002_report_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The source system's id, or a content hash for files without one; NULL for reports
    # taken through the API (a unique index lets any number of NULLs through).
    op.execute("ALTER TABLE reports ADD COLUMN external_id text")
    op.execute("CREATE UNIQUE INDEX ux_reports_external_id ON reports (external_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ux_reports_external_id")
    op.execute("ALTER TABLE reports DROP COLUMN IF EXISTS external_id")
