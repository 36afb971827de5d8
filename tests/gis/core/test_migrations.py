"""The models and the migrations agree: autogenerate finds nothing to change after ``head``.

Alembic compares tables, columns (types, nullability, server defaults), indexes, unique and
foreign keys; GeoAlchemy2's ``alembic_helpers`` make it compare the spatial indexes right.
CHECK constraints, which autogenerate does not compare, are compared as PostgreSQL prints
them, between the migrated database and one built from the models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import Column, Connection, Engine, Index, MetaData, Text, text

from gis.core.db import make_engine
from gis.schema import metadata as all_tables
from tests import conftest


def _differences(conn: Connection, metadata: MetaData = all_tables) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": alembic_helpers.include_object,
        },
    )
    return list(compare_metadata(context, metadata))


def test_autogenerate_finds_no_drift(empty_engine: Engine) -> None:
    with empty_engine.connect() as conn:
        differences = _differences(conn)
    assert differences == [], "\n".join(map(str, differences))


_CHECKS = """
SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
JOIN pg_namespace ns ON ns.oid = rel.relnamespace
WHERE con.contype = 'c' AND ns.nspname = 'public'
ORDER BY 1, 2
"""


@pytest.fixture
def models_engine(pg_server: conftest.TestServer) -> Iterator[Engine]:
    """A database whose tables SQLAlchemy created from the models (no migration)."""
    name = "gp_t_models_only"
    engine = make_engine(pg_server.create_database(name), pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            all_tables.create_all(conn)
        yield engine
    finally:
        engine.dispose()
        pg_server.drop_database(name)


def test_check_constraints_match(empty_engine: Engine, models_engine: Engine) -> None:
    with empty_engine.connect() as migrated, models_engine.connect() as modelled:
        from_migrations = migrated.execute(text(_CHECKS)).all()
        from_models = modelled.execute(text(_CHECKS)).all()
    assert from_models == from_migrations


def test_a_drifted_model_is_caught(empty_engine: Engine) -> None:
    """The comparison can fail: an index and a column the migrations never made are found."""
    drifted = MetaData()
    for table in all_tables.sorted_tables:
        table.to_metadata(drifted)
    reports = drifted.tables["reports"]
    reports.append_column(Column("drift_probe", Text))
    Index("ix_reports_drift_probe", reports.c.description)
    with empty_engine.connect() as conn:
        kinds = {diff[0] for diff in _differences(conn, drifted) if isinstance(diff, tuple)}
    assert {"add_column", "add_index"} <= kinds


def test_every_geometry_column_has_a_gist_index(empty_engine: Engine) -> None:
    """City-scale bbox and nearest queries need one on every geometry of every part."""
    with empty_engine.connect() as conn:
        columns = set(
            conn.execute(
                text(
                    "SELECT f_table_name || '.' || f_geometry_column FROM geometry_columns "
                    "WHERE f_table_schema = 'public'"
                )
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
    assert {"grids.geom", "routing_edges.geom", "patrol_routes.geom"} <= columns
    assert columns - indexed == set()
