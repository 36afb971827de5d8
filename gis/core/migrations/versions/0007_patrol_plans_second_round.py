"""Patrols, second round: unserved reasons as codes, grade-separated streets.

- ``patrol_stops.reason_code``: why a stop is unserved as a code
  (``gis.patrols.reasons.UnservedCode``), the prose staying in ``reason``; stored plans get
  their codes from their prose.
- ``patrol_plans.objective`` (balanced or shortest; stored plans were shortest) and
  ``over_capacity`` / ``missing_patroller_hours``: required stops the shifts had no room for.
- ``patrol_routes.published_to`` / ``published_at``: the worker account a route was handed to.
- ``patrol_stops.kind`` may be ``stale_grid`` (grids no track has passed in N days).
- ``roads.node_crossings`` (loaded with ``--node-crossings``: its crossings are junctions) and
  ``roads.level`` (the grade: layer, bridge +1, tunnel -1). Stored roads keep the first
  round's noding: they were loaded when every crossing was a junction.

Revision ID: 0007_patrol_plans_second_round
Revises: 0008_track_content (main's head when patrols last merged it; the lead re-chains it)
"""

from __future__ import annotations

from alembic import op

revision = "0007_patrol_plans_second_round"
down_revision = "0008_track_content"
branch_labels = None
depends_on = None

KINDS = ("report", "hot_grid", "facility", "building", "point", "stale_grid")
UNSERVED_CODES = (
    "no_street",
    "other_component",
    "out_of_district",
    "not_connected",
    "shift_too_short",
    "beyond_walk_limit",
    "over_capacity",
    "less_valuable",
)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE patrol_plans ADD COLUMN objective text NOT NULL DEFAULT 'shortest'
            CONSTRAINT patrol_plans_objective CHECK (objective IN ('balanced', 'shortest'));
        ALTER TABLE patrol_plans ADD COLUMN over_capacity integer NOT NULL DEFAULT 0;
        ALTER TABLE patrol_plans ADD COLUMN missing_patroller_hours double precision
            NOT NULL DEFAULT 0;
        ALTER TABLE patrol_routes ADD COLUMN published_to bigint
            REFERENCES users(id) ON DELETE SET NULL;
        ALTER TABLE patrol_routes ADD COLUMN published_at timestamptz;
        CREATE INDEX ix_patrol_routes_published_to ON patrol_routes (published_to);
        ALTER TABLE patrol_stops DROP CONSTRAINT patrol_stops_kind;
        ALTER TABLE patrol_stops ADD CONSTRAINT patrol_stops_kind CHECK (kind IN ({_in(KINDS)}));
        ALTER TABLE roads ADD COLUMN node_crossings boolean NOT NULL DEFAULT false;
        ALTER TABLE roads ADD COLUMN level smallint NOT NULL DEFAULT 0;
        UPDATE roads SET node_crossings = true;
        ALTER TABLE patrol_stops ADD COLUMN reason_code text
            CONSTRAINT patrol_stops_reason_code CHECK (reason_code IN ({_in(UNSERVED_CODES)}));
        UPDATE patrol_stops SET reason_code = CASE
            WHEN reason LIKE 'unreachable: no street within%' THEN 'no_street'
            WHEN reason LIKE 'unreachable: its nearest street%' THEN 'other_component'
            WHEN reason LIKE 'unreachable:%' THEN 'not_connected'
            WHEN reason LIKE 'by_district:%' THEN 'out_of_district'
            WHEN reason LIKE 'no shift is long enough%' THEN 'shift_too_short'
            WHEN reason LIKE 'beyond every walking limit%' THEN 'beyond_walk_limit'
            WHEN required THEN 'over_capacity'
            ELSE 'less_valuable' END
        WHERE reason IS NOT NULL;
        ALTER TABLE patrol_stops DROP CONSTRAINT patrol_stops_served_or_reason;
        ALTER TABLE patrol_stops ADD CONSTRAINT patrol_stops_served_or_reason CHECK (
            (route_id IS NULL) = (seq IS NULL) AND (route_id IS NULL) = (reason IS NOT NULL)
            AND (reason IS NULL) = (reason_code IS NULL));
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE patrol_stops DROP CONSTRAINT patrol_stops_served_or_reason;
        ALTER TABLE patrol_stops ADD CONSTRAINT patrol_stops_served_or_reason CHECK (
            (route_id IS NULL) = (seq IS NULL) AND (route_id IS NULL) = (reason IS NOT NULL));
        ALTER TABLE patrol_stops DROP COLUMN reason_code;
        ALTER TABLE roads DROP COLUMN level;
        ALTER TABLE roads DROP COLUMN node_crossings;
        DELETE FROM patrol_stops WHERE kind = 'stale_grid';
        ALTER TABLE patrol_stops DROP CONSTRAINT patrol_stops_kind;
        ALTER TABLE patrol_stops ADD CONSTRAINT patrol_stops_kind
            CHECK (kind IN ({_in(KINDS[:-1])}));
        DROP INDEX ix_patrol_routes_published_to;
        ALTER TABLE patrol_routes DROP COLUMN published_at;
        ALTER TABLE patrol_routes DROP COLUMN published_to;
        ALTER TABLE patrol_plans DROP COLUMN missing_patroller_hours;
        ALTER TABLE patrol_plans DROP COLUMN over_capacity;
        ALTER TABLE patrol_plans DROP COLUMN objective;
        """
    )
