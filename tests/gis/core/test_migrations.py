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
from gis.core.models import Base
from tests import conftest


def _differences(conn: Connection, metadata: MetaData = Base.metadata) -> list[Any]:
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
            Base.metadata.create_all(conn)
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
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    reports = drifted.tables["reports"]
    reports.append_column(Column("drift_probe", Text))
    Index("ix_reports_drift_probe", reports.c.description)
    with empty_engine.connect() as conn:
        kinds = {diff[0] for diff in _differences(conn, drifted) if isinstance(diff, tuple)}
    assert {"add_column", "add_index"} <= kinds
