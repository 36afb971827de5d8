"""The FastAPI application: ``create_app(settings)`` with a lifespan owning the engine."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.responses import Response
from starlette.types import Scope

from api.auth import get_principal
from api.compression import CompressAssets
from api.errors import add_exception_handlers
from api.hardening import BodyLimit, CatchAll, HeadAsGet, RequestGuard, check_parameters
from api.heavy import HeavyPool
from api.pages import areas, dispatch, resident, worker
from api.pages import patrols as patrol_leader
from api.pages import routes as pages
from api.pages.docs import add_documentation
from api.pages.render import STATIC_DIR as PAGES_STATIC
from api.pages.render import STATIC_URL as PAGES_STATIC_URL
from api.ratelimit import TokenBucketLimiter
from api.routes import (
    analytics,
    auth,
    coverage,
    health,
    households,
    kpis,
    layers,
    maps,
    ogc,
    open311,
    patrols,
    photos,
    reports,
    service_areas,
    tiles,
    topology,
)
from api.schemas.common import ValidationErrorBody
from api.schemas.open311 import ServiceRequestForm
from gis.access.tokens import signing_key
from gis.core.db import async_pool, open_database, resolve_database_url, use_time_zone
from gis.core.settings import Settings, get_settings
from gis.reports.categories import get_categories
from maps.assets import ROOTS, TEST_ONLY_PACKAGES

# Every route module, in the order their routers are included (tests walk the same tuple).
ROUTE_MODULES = (
    health,
    auth,
    layers,
    reports,
    households,
    kpis,
    open311,
    analytics,
    topology,
    coverage,
    patrols,
    photos,
    service_areas,
    maps,
    tiles,
    ogc,
    pages,
    dispatch,
    resident,
    worker,
    patrol_leader,
    areas,
)


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with an ``X or null`` made ``X``: a form field, query parameter or header
    cannot carry a null, it is left out (FastAPI documents ``str | None`` as nullable)."""
    branches = prop.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return prop
    kept = [b for b in branches if b != {"type": "null"}]
    rest = {k: v for k, v in prop.items() if k != "anyOf" and (k, v) != ("default", None)}
    # What was said beside the anyOf (json_schema_extra: an enum for the items) wins.
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an object's) with each ``X or null`` property made ``X`` (a form)."""
    return {**schema, "properties": {k: _not_null(v) for k, v in schema["properties"].items()}}


def _parameters_without_null(schema: dict[str, Any]) -> None:
    """Query, path and header parameters documented without their null branch: a client
    sending "null" would be sending the text, which the parameter may well refuse."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _not_null(parameter["schema"])


def _document_categories(schema: dict[str, Any], codes: list[str]) -> None:
    """Give every input the server checks against the categories file its codes as an enum
    (the file is read at startup, so the document is made from it too). The report list's
    ``category`` filter takes any text (an unknown one matches nothing), so it stays open."""
    components = schema["components"]["schemas"]
    components["ReportCreate"]["properties"]["category"]["enum"] = codes
    for form in ("ServiceRequestForm", open311.FORM_ENCODED):
        components[form]["properties"]["service_code"]["enum"] = codes
    # The hotspots take codes repeated or comma-separated, blanks ignored.
    code = f"({'|'.join(re.escape(c) for c in codes)})?"
    several = {"type": "string", "pattern": rf"^\s*{code}\s*(,\s*{code}\s*)*$"}
    for path in ("/analytics/hotspots", "/maps/hotspots"):
        for parameter in schema["paths"][path]["get"]["parameters"]:
            if parameter["name"] == "category":
                parameter["schema"]["anyOf"][0]["items"] = several
    listing = schema["paths"]["/open311/v2/requests.json"]["get"]
    for parameter in listing["parameters"]:
        if parameter["name"] == "service_code":
            # Empty: no filter.
            parameter["schema"] = {"type": "string", "enum": ["", *codes]}


def _document_errors(app: FastAPI, categories: list[str]) -> None:
    """Make ``/openapi.json`` describe the error bodies this app really sends.

    FastAPI documents request validation errors with its own body (``HTTPValidationError``);
    ours is ``ValidationErrorBody`` (``api/errors.py``), and Open311 routes answer 400 instead.
    It also files the errors of HTML pages under ``text/html``; they are JSON. Models only
    referenced by hand (the Open311 POST form) are added to the components.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        ours = {"$ref": f"#/components/schemas/{ValidationErrorBody.__name__}"}
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ValidationErrorBody, ServiceRequestForm):
            components.setdefault(
                model.__name__,
                model.model_json_schema(ref_template="#/components/schemas/{model}"),
            )
        components.setdefault(
            open311.FORM_ENCODED, _without_null(components[ServiceRequestForm.__name__])
        )
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                for status, error in operation["responses"].items():
                    content = error.get("content", {})
                    # Errors are JSON even where the page itself is HTML, but for a form
                    # page's refusal declared as a page (the form again, saying why).
                    html = content.get("text/html")
                    page = html is not None and html.get("schema") == {"type": "string"}
                    if status[0] in "45" and html is not None and not page:
                        content["application/json"] = content.pop("text/html")
                answer = operation["responses"].get("422")
                if answer is None or "HTTPValidationError" not in str(answer):
                    continue
                if path.startswith(open311.router.prefix):
                    del operation["responses"]["422"]
                else:
                    answer["content"]["application/json"]["schema"] = ours
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        _document_categories(schema, categories)
        _parameters_without_null(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# What a map page loads: scripts, stylesheets, their images and fonts. npm's metadata
# (package.json, .package-lock.json), READMEs and sources beside them are not served.
ASSET_SUFFIXES = frozenset(
    {".js", ".css", ".png", ".gif", ".jpg", ".jpeg", ".svg", ".woff", ".woff2", ".ttf", ".eot"}
)


ASSET_CACHE = "public, max-age=86400"


class AssetFiles(StaticFiles):
    """``StaticFiles`` serving map assets only: a file with an asset's suffix, under no
    hidden directory and in no test-only package; anything else is 404, as if it were not
    there."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        parts = path.replace("\\", "/").split("/")
        suffix = "." + parts[-1].rsplit(".", 1)[-1].lower() if "." in parts[-1] else ""
        hidden = any(part.startswith(".") or part in TEST_ONLY_PACKAGES for part in parts)
        if suffix not in ASSET_SUFFIXES or hidden:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        # The locked npm versions change only with an upgrade: a phone keeps them for a day
        # instead of asking again on every page (ETag revalidation after that).
        response.headers.setdefault("Cache-Control", ASSET_CACHE)
        return response


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app; with no ``engine`` the lifespan opens (and migrates) ``DATABASE_URL``'s
    database. It never starts PostgreSQL: the embedded cluster is `gridpatrol serve`'s."""
    settings = settings or get_settings()
    # Read and validated now: a bad categories file stops the app before it serves anything.
    categories = get_categories(settings.categories_file)
    # Read (or made, once) now: a bad key stops the app before it serves anything.
    key = signing_key(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine or open_database(resolve_database_url(settings))
        # Times read from the database carry the configured zone's offset, on every route.
        use_time_zone(app.state.engine, settings.timezone)
        app.state.settings = settings
        app.state.categories = categories
        app.state.signing_key = key
        app.state.intake_limiter = TokenBucketLimiter(
            rate_per_minute=settings.intake_rate_per_minute, burst=settings.intake_burst
        )
        app.state.login_limiter = TokenBucketLimiter(
            rate_per_minute=settings.login_rate_per_minute, burst=settings.login_burst
        )
        app.state.heavy_limiter = TokenBucketLimiter(
            rate_per_minute=settings.heavy_rate_per_minute, burst=settings.heavy_burst
        )
        app.state.heavy_pool = HeavyPool.from_settings(settings)
        # Vector tiles read on the event loop (gis/core/db.py: no thread, no ping per tile).
        app.state.read_pool = async_pool(app.state.engine)
        await app.state.read_pool.open(wait=False)
        try:
            yield
        finally:
            app.state.heavy_pool.close()
            await app.state.read_pool.close()
            if owned:
                app.state.engine.dispose()

    app = FastAPI(
        title="gridpatrol",
        summary="Grid-based community governance: grids, buildings, reports and patrols.",
        version=metadata.version("gridpatrol"),
        description=(
            "Geometry is GeoJSON in EPSG:4326. A time given without an offset is read in the "
            f"server's time zone (GRIDPATROL_TIMEZONE, here {settings.timezone}). Errors are "
            '`{"detail": "..."}` saying what was wrong; Open311 routes answer in GeoReport v2\'s '
            "error list."
        ),
        lifespan=lifespan,
        openapi_tags=[
            {"name": tag}
            for tag in dict.fromkeys(tag for module in ROUTE_MODULES for tag in module.router.tags)
        ],
        # Every route: repeated scalars, huge integers, numbers as dates refused (422); a
        # bearer token, when sent, must be valid (401) — handlers reuse the cached principal.
        dependencies=[Depends(check_parameters), Depends(get_principal)],
        # Served from the npm install instead of a CDN (api/pages/docs.py).
        docs_url=None,
        redoc_url=None,
    )
    add_documentation(app)
    add_exception_handlers(app)
    _document_errors(app, list(categories))
    # Innermost: scripts, stylesheets and tiles leave compressed (api/compression.py).
    app.add_middleware(CompressAssets, prefixes=("/static/", "/tiles/"))
    # Outermost last: CatchAll also answers for errors inside RequestGuard.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        limits=[
            BodyLimit("POST", patrols.TRACK_PATH, settings.max_track_bytes),
            BodyLimit("POST", photos.PHOTOS_PATH, photos.MAX_PHOTOS_BODY_BYTES),
            BodyLimit("POST", resident.REPORT_PATH_PATTERN, photos.MAX_PHOTOS_BODY_BYTES),
            BodyLimit("POST", resident.FOLLOW_PHOTOS_PATTERN, photos.MAX_PHOTOS_BODY_BYTES),
            BodyLimit(
                "POST",
                worker.REPORT_ACTION_PATTERN,
                max(settings.max_body_bytes, worker.MAX_ACTION_BODY_BYTES),
            ),
        ],
    )
    app.add_middleware(HeadAsGet)
    app.add_middleware(CatchAll)
    # Tiles are matched first: a map asks for dozens per view, and every router before them
    # costs each tile a pass over its routes. The documentation keeps ROUTE_MODULES' order.
    for module in sorted(ROUTE_MODULES, key=lambda module: module is not tiles):
        app.include_router(module.router)
    # Map pages load Leaflet and plugins from here, never from a CDN (see maps/assets.py).
    for root, directory in ROOTS.items():
        app.mount(
            f"/static/{root}",
            AssetFiles(directory=directory, check_dir=False),
            name=f"static-{root}",
        )
    app.mount(PAGES_STATIC_URL, StaticFiles(directory=PAGES_STATIC), name="static-pages")
    return app
