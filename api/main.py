"""The FastAPI application: ``create_app(settings)`` with a lifespan owning the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from api.errors import add_exception_handlers
from api.routes import (
    analytics,
    coverage,
    health,
    kpis,
    layers,
    maps,
    ogc,
    open311,
    reports,
    tiles,
    topology,
)
from gis.core.db import open_database
from gis.core.settings import Settings, get_settings
from gis.reports.categories import get_categories
from maps.assets import ROOTS


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app; with no ``engine`` the lifespan opens (and migrates) the database."""
    settings = settings or get_settings()
    # Read and validated now: a bad categories file stops the app before it serves anything.
    categories = get_categories(settings.categories_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine or open_database(settings)
        app.state.settings = settings
        app.state.categories = categories
        try:
            yield
        finally:
            if owned:
                app.state.engine.dispose()

    app = FastAPI(
        title="gridpatrol",
        summary="Grid-based community governance: grids, buildings, reports and patrols.",
        version="0.1.0",
        lifespan=lifespan,
    )
    add_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(reports.router)
    app.include_router(kpis.router)
    app.include_router(open311.router)
    app.include_router(analytics.router)
    app.include_router(topology.router)
    app.include_router(coverage.router)
    app.include_router(maps.router)
    app.include_router(tiles.router)
    app.include_router(ogc.router)
    # Map pages load Leaflet and plugins from here, never from a CDN (see maps/assets.py).
    for root, directory in ROOTS.items():
        app.mount(
            f"/static/{root}",
            StaticFiles(directory=directory, check_dir=False),
            name=f"static-{root}",
        )
    return app
