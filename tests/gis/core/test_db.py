"""Migrations apply from empty and leave every geometry indexed."""

from __future__ import annotations

from sqlalchemy import Engine, text

from gis.core.db import migrate, server_versions

TABLES = (
    "districts",
    "subdistricts",
    "communities",
    "grids",
    "buildings",
    "facilities",
    "roads",
    "reports",
)


def test_migrations_apply_from_empty_and_are_idempotent(empty_engine: Engine) -> None:
    migrate(empty_engine)  # second run on an already migrated database: a no-op
    with empty_engine.connect() as conn:
        present = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
        assert set(TABLES) <= present
        gist = set(
            conn.execute(
                text(
                    "SELECT t.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam "
                    "WHERE a.amname = 'gist'"
                )
            ).scalars()
        )
        assert set(TABLES) <= gist
        srids: dict[str, int] = dict(
            conn.execute(
                text(
                    "SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema='public'"
                )
            ).all()
        )
        assert {srids[t] for t in TABLES} == {4326}


def test_server_has_postgis_and_pgrouting(empty_engine: Engine) -> None:
    versions = server_versions(empty_engine)
    assert versions["postgresql"].startswith("15")
    assert versions["postgis"].startswith("3")
    assert versions["pgrouting"] != "not installed"
