"""Layer versions: a counter per source table, bumped by statement-level triggers.

Tiles and OGC API Features answer with an ETag made of the versions of the tables a layer
reads, so a client revalidates cheaply (304) and sees a change as soon as it is committed: the
bump is an UPDATE in the writing transaction, visible exactly when the data is.

Revision ID: 0006_layer_versions
Revises: 0003_report_history (the lead re-chains it after the other branches' migrations)
"""

from __future__ import annotations

from alembic import op

revision = "0006_layer_versions"
down_revision = "0005_accounts"
branch_labels = None
depends_on = None

# Tables the published layers read; a later migration adds its own (one CREATE TRIGGER each).
SOURCES = (
    "districts",
    "subdistricts",
    "communities",
    "grids",
    "buildings",
    "facilities",
    "roads",
    "reports",
    "patrol_plans",
    "patrol_routes",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE layer_versions (
            source text PRIMARY KEY,
            version bigint NOT NULL DEFAULT 1,
            changed_at timestamptz NOT NULL DEFAULT now()
        );
        -- One row per writing statement, not per row: a million-row import bumps once.
        CREATE FUNCTION bump_layer_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO layer_versions AS v (source) VALUES (TG_TABLE_NAME)
            ON CONFLICT (source) DO UPDATE
                SET version = v.version + 1, changed_at = now();
            RETURN NULL;
        END $$;
        """
    )
    for table in SOURCES:
        op.execute(f"INSERT INTO layer_versions (source) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER {table}_layer_version "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_layer_version()"
        )
    # Grid tiles carry building and resident counts per grid: with residents in the index the
    # count is an index-only scan of the grid's buildings, not a heap visit per building.
    op.execute(
        "CREATE INDEX ix_buildings_grid_code_residents ON buildings (grid_code) INCLUDE (residents)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_buildings_grid_code_residents")
    for table in SOURCES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_version ON {table}")
    op.execute("DROP FUNCTION IF EXISTS bump_layer_version()")
    op.execute("DROP TABLE IF EXISTS layer_versions")
