"""The FastAPI application: ``create_app(settings)`` with a lifespan owning the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from api.auth import get_principal
from api.errors import add_exception_handlers
from api.hardening import CatchAll, RequestGuard, check_parameters
from api.ratelimit import TokenBucketLimiter
from api.routes import (
    analytics,
    auth,
    coverage,
    health,
    kpis,
    layers,
    maps,
    open311,
    reports,
    topology,
)
from gis.access.tokens import signing_key
from gis.core.db import open_database
from gis.core.settings import Settings, get_settings
from gis.reports.categories import get_categories
from maps.assets import ROOTS


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app; with no ``engine`` the lifespan opens (and migrates) the database."""
    settings = settings or get_settings()
    # Read and validated now: a bad categories file stops the app before it serves anything.
    categories = get_categories(settings.categories_file)
    # Read (or made, once) now: a bad key stops the app before it serves anything.
    key = signing_key(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine or open_database(settings)
        app.state.settings = settings
        app.state.categories = categories
        app.state.signing_key = key
        app.state.intake_limiter = TokenBucketLimiter(
            rate_per_minute=settings.intake_rate_per_minute, burst=settings.intake_burst
        )
        app.state.login_limiter = TokenBucketLimiter(
            rate_per_minute=settings.login_rate_per_minute, burst=settings.login_burst
        )
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
        # Every route: repeated scalars, huge integers, numbers as dates refused (422); a
        # bearer token, when sent, must be valid (401) — handlers reuse the cached principal.
        dependencies=[Depends(check_parameters), Depends(get_principal)],
    )
    add_exception_handlers(app)
    # Outermost last: CatchAll also answers for errors inside RequestGuard.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(CatchAll)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(layers.router)
    app.include_router(reports.router)
    app.include_router(kpis.router)
    app.include_router(open311.router)
    app.include_router(analytics.router)
    app.include_router(topology.router)
    app.include_router(coverage.router)
    app.include_router(maps.router)
    # Map pages load Leaflet and plugins from here, never from a CDN (see maps/assets.py).
    for root, directory in ROOTS.items():
        app.mount(
            f"/static/{root}",
            StaticFiles(directory=directory, check_dir=False),
            name=f"static-{root}",
        )
    return app
