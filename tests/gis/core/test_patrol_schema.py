"""Migration 0004 and the routing/patrol models agree exactly (Alembic finds no drift)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import Engine, text

from gis.core.models import Base

PATROL_TABLES = {
    "routing_vertices",
    "routing_edges",
    "patrol_plans",
    "patrol_routes",
    "patrol_stops",
    "patrol_route_grids",
    "patrol_route_districts",
    "patrol_tracks",
    "patrol_track_grids",
    "patrol_track_stops",
}


def _table_of(diff: Any) -> str | None:
    """The table a diff entry is about (entries are tuples, or lists of tuples)."""
    entry = diff[0] if isinstance(diff, list) else diff
    for part in entry[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None:
            return str(table.name)
        if isinstance(part, str) and part in PATROL_TABLES | {"roads"}:
            return part
        if name in PATROL_TABLES:
            return str(name)
    return None


def test_patrol_models_match_migration(empty_engine: Engine) -> None:
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": alembic_helpers.include_object,
            },
        )
        diffs = compare_metadata(context, Base.metadata)
    ours = [d for d in diffs if _table_of(d) in PATROL_TABLES]
    roads_oneway = [d for d in diffs if _table_of(d) == "roads" and "oneway" in repr(d)]
    assert ours == [] and roads_oneway == []


def test_every_patrol_geometry_has_a_gist_index(empty_engine: Engine) -> None:
    with empty_engine.connect() as conn:
        columns = set(
            conn.execute(
                text(
                    "SELECT f_table_name || '.' || f_geometry_column FROM geometry_columns "
                    "WHERE f_table_name = ANY(:tables)"
                ),
                {"tables": sorted(PATROL_TABLES)},
            ).scalars()
        )
        indexed = set(
            conn.execute(
                text(
                    "SELECT t.relname || '.' || a.attname FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                    "JOIN pg_am am ON am.oid = i.relam "
                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey) "
                    "WHERE am.amname = 'gist'"
                )
            ).scalars()
        )
    assert len(columns) == 7
    assert columns <= indexed
