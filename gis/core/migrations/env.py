"""Alembic environment: runs on the engine gridpatrol hands over (see ``gis.core.db.migrate``)."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import Engine

from gis.schema import metadata

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # GeoAlchemy2's helpers keep spatial indexes and types right in autogenerate.
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
