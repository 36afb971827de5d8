"""Tracks idempotent by content, and the stop radius each track was matched with.

``content_sha256`` (the SHA-256 of a track's fixes) is unique per plan, so the same GPX
uploaded twice is one track and coverage counts it once; tracks stored before stay NULL
(several NULLs never conflict). ``radius_m`` keeps the radius the stops were matched with, so
a track read back (or answered again for a repeated upload) says which radius decided it.

Revision ID: 0008_track_content
Revises: 0006_layer_versions (the lead re-chains it after the other branches' migrations)
"""

from __future__ import annotations

from alembic import op

revision = "0008_track_content"
down_revision = "0006_layer_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE patrol_tracks
            ADD COLUMN content_sha256 text
                CONSTRAINT patrol_tracks_content_sha256 CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
            ADD COLUMN radius_m double precision NOT NULL DEFAULT 50
                CONSTRAINT patrol_tracks_radius CHECK (radius_m > 0 AND radius_m <= 1000),
            ADD CONSTRAINT patrol_tracks_plan_content UNIQUE (plan_id, content_sha256);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE patrol_tracks
            DROP CONSTRAINT patrol_tracks_plan_content,
            DROP COLUMN radius_m,
            DROP COLUMN content_sha256;
        """
    )
