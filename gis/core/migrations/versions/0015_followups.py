"""A resident's private follow-up link of a report, and the rating of its outcome (回访).

A report sent from ``/app/report`` gets an unguessable token; only its SHA-256 is kept, so the
table read by anyone cannot open a resident's link. Once the report is closed the resident
rates the outcome once (satisfied or not, with a note): the KPIs' satisfaction rate.

Revision ID: 0015_followups
Revises: 0014_households (the lead re-chains it after the other branches' migrations)
"""

from __future__ import annotations

from alembic import op

revision = "0015_followups"
down_revision = "0010_invalid_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE report_followups (
            report_id bigint PRIMARY KEY REFERENCES reports (id),
            token_sha256 text NOT NULL
                CONSTRAINT report_followups_token CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
            created_at timestamptz NOT NULL DEFAULT now(),
            satisfied boolean,
            rating_note text,
            rated_at timestamptz,
            CONSTRAINT report_followups_rating CHECK ((satisfied IS NULL) = (rated_at IS NULL)),
            CONSTRAINT report_followups_note CHECK (rating_note IS NULL OR satisfied IS NOT NULL)
        );
        CREATE UNIQUE INDEX ux_report_followups_token ON report_followups (token_sha256);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE report_followups")
