"""Commands for the database and data: ``db``, ``load``, ``demo``, ``serve``."""

from __future__ import annotations

import json
import logging.config
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.app import (
    app,
    configured_categories,
    console,
    db_app,
    err_console,
    fail,
    json_option,
    open_engine,
    print_results,
    progress_bar,
    run,
)
from cli.cluster import EmbeddedCluster
from cli.patrols import load_track
from cli.supervisor import ClusterSupervisor
from data import DEMO_DIR
from gis.city import load_city
from gis.core.db import make_engine, migrate, refresh_statistics
from gis.core.errors import InvalidInput
from gis.core.settings import get_settings
from gis.households.registry import LAYER as HOUSEHOLDS_LAYER
from gis.households.registry import import_households_csv
from gis.patrols.tracks import DEFAULT_RADIUS_M
from gis.reports.history import REPORTS_LAYER, import_report_file
from gis.reports.workers import import_workers_csv
from gis.territory.importing import ImportResult, import_file
from gis.territory.layers import LAYERS, database_is_empty


# ----------------------------------------------------------------------------- db
@db_app.command("up")
def db_up() -> None:
    """Create (first time) and start the embedded cluster; print its URL (password masked)."""
    cluster = EmbeddedCluster(get_settings().home)
    engine = make_engine(run(cluster.start))
    try:
        run(lambda: migrate(engine))
    finally:
        engine.dispose()
    # The password stays out of terminals and logs; `gridpatrol db url` prints it on request.
    typer.echo(cluster.masked_url)


@db_app.command("down")
def db_down() -> None:
    """Stop the embedded cluster (its data stays in the home); stop `serve` first, which
    would restart it."""
    cluster = EmbeddedCluster(get_settings().home)
    run(cluster.stop)
    console.print("stopped")


@db_app.command("status")
def db_status(as_json: Annotated[bool, json_option()] = False) -> None:
    """Whether the embedded cluster exists and runs (and what DATABASE_URL says)."""
    settings = get_settings()
    status = run(lambda: EmbeddedCluster(settings.home).status())
    data = {
        "home": str(status.home),
        "initialised": status.initialised,
        "running": status.running,
        "port": status.port,
        "url": status.url,
        "database_url_env": bool(settings.database_url),
    }
    if as_json:
        console.print_json(json.dumps(data))
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}", highlight=False)
    if not status.running and not settings.database_url:
        raise typer.Exit(1)


@db_app.command("url")
def db_url() -> None:
    """The database URL gridpatrol uses, with its password (DATABASE_URL, or the embedded
    cluster's): for `DATABASE_URL=$(gridpatrol db url)` and psql; `db status` masks it."""
    settings = get_settings()
    if settings.database_url:
        typer.echo(settings.database_url)
        return
    # Plain echo: a long URL must not be wrapped onto two lines like rich would.
    typer.echo(run(lambda: EmbeddedCluster(settings.home).url))


# ----------------------------------------------------------------------------- data
# GPS tracks of patrols: GPX or GeoJSON, stored for a plan (cli/patrols.py).
TRACKS_LAYER = "tracks"
LOADABLE_LAYERS = (*LAYERS, REPORTS_LAYER, "workers", HOUSEHOLDS_LAYER, TRACKS_LAYER)


@app.command("load")
def load(
    path: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON, GeoPackage, Shapefile or .osm.pbf; CSV with lon/lat for reports; "
            "CSV for workers and households; GPX or GeoJSON for tracks"
        ),
    ],
    layer: Annotated[
        str,
        typer.Option("--layer", "-l", help=f"one of: {', '.join(LOADABLE_LAYERS)}"),
    ],
    patrol: Annotated[
        int | None, typer.Option(help="tracks: the patrol plan the GPS track walked")
    ] = None,
    route: Annotated[
        int | None, typer.Option(help="tracks: the plan's route (default: the best match)")
    ] = None,
    radius_m: Annotated[
        float, typer.Option(help="tracks: a stop is passed within this many metres")
    ] = DEFAULT_RADIUS_M,
    node_crossings: Annotated[
        bool,
        typer.Option(
            "--node-crossings",
            help="roads: every crossing of two streets of one level is a junction (drawn data "
            "without junction vertices; bridge/tunnel/layer columns keep grades apart)",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="take a file whose coordinates look wrong for its CRS or lie outside the "
            "city's other layers (checked to catch a wrong CRS)",
        ),
    ] = False,
    as_json: Annotated[bool, json_option("machine-readable result")] = False,
) -> None:
    """Import a file into a layer, all-or-nothing (reprojected to EPSG:4326); OpenStreetMap
    .osm.pbf for roads and buildings; a GPS track (GPX/GeoJSON) with --layer tracks.

    Streets meet where they share a vertex (or end within 1 m of each other); two that cross
    without one are a bridge or a tunnel. --node-crossings is for drawn roads whose junctions
    have no vertex."""
    if layer not in LOADABLE_LAYERS:
        known = ", ".join(LOADABLE_LAYERS)
        fail(InvalidInput(f"unknown layer {layer!r}; expected one of: {known}"))
    if node_crossings and layer != "roads":
        fail(InvalidInput(f"--node-crossings applies to --layer roads, not {layer}"))
    if layer == TRACKS_LAYER:
        load_track(path, plan_id=patrol, route=route, radius_m=radius_m, as_json=as_json)
        return
    settings = get_settings()
    categories = configured_categories(settings)
    engine = open_engine(settings)
    if layer == "workers":
        # A CSV, not a vector file: its own importer, same all-or-nothing transaction.
        def load_workers() -> ImportResult:
            with engine.begin() as conn:
                return import_workers_csv(conn, path)

        print_results([run(load_workers)], as_json)
        refresh_statistics(engine)
        return
    if layer == HOUSEHOLDS_LAYER:
        # The household registry: a CSV keyed by building code (gis/households/registry.py).
        def load_households() -> ImportResult:
            with engine.begin() as conn:
                return import_households_csv(conn, path, zone=settings.zone)

        print_results([run(load_households)], as_json)
        refresh_statistics(engine)
        return

    def action() -> ImportResult:
        with progress_bar(not as_json and sys.stderr.isatty()) as progress, engine.begin() as conn:
            if layer == REPORTS_LAYER:  # report history: located in bulk, upserted by id
                return import_report_file(conn, path, categories=categories, progress=progress)
            return import_file(
                conn,
                path,
                layer=layer,
                progress=progress,
                node_crossings=node_crossings,
                force=force,
            )

    try:
        print_results([run(action)], as_json)
        refresh_statistics(engine)
    finally:
        engine.dispose()


@app.command("demo")
def demo(
    as_json: Annotated[bool, json_option("machine-readable result")] = False,
) -> None:
    """(Re)load the demo city from data/demo (upserts by code; nothing is duplicated)."""
    settings = get_settings()
    categories = configured_categories(settings)
    engine = open_engine(settings)
    with progress_bar(not as_json and sys.stderr.isatty()) as progress:
        results = run(
            lambda: load_city(
                engine, DEMO_DIR, categories=categories, progress=progress, zone=settings.zone
            )
        )
    print_results(results, as_json)


# ----------------------------------------------------------------------------- serve
@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="server processes; about one per CPU core under load")
    ] = 1,
) -> None:
    """Start the API and maps; sets up the database and demo city on first run. With no
    DATABASE_URL it starts the embedded cluster and restarts it whenever it dies."""
    import uvicorn

    from api.accesslog import with_masked_tokens
    from api.main import create_app

    settings = get_settings()
    engine = open_engine(settings)
    with engine.connect() as conn:
        empty = database_is_empty(conn)
    if empty:
        err_console.print("empty database: loading the demo city from data/demo …")
        with progress_bar(sys.stderr.isatty()) as progress:
            run(
                lambda: load_city(
                    engine,
                    DEMO_DIR,
                    categories=configured_categories(settings),
                    progress=progress,
                    zone=settings.zone,
                )
            )
    bind_host = host or settings.host
    bind_port = port or settings.port
    err_console.print(
        f"gridpatrol serving on http://{bind_host}:{bind_port}  (API docs: /docs)", highlight=False
    )
    # uvicorn's own logging, plus gridpatrol's loggers (errors, refused values, the database
    # supervisor) beside it; configured now so the supervisor logs before uvicorn starts.
    # Every handler cuts the residents' follow-up tokens out of the paths it writes.
    log_config = with_masked_tokens(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["gridpatrol"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    # uvicorn reads X-Forwarded-For from loopback unless told otherwise: only the configured
    # proxies may name the client (rate limits and the access log use that address).
    proxies = settings.proxy_addresses
    forwarding: dict[str, Any] = {
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }
    logging.config.dictConfig(log_config)
    supervisor = None
    if not settings.database_url:
        supervisor = ClusterSupervisor(EmbeddedCluster(settings.home))
        supervisor.start()
        # Worker processes build their app from the environment: hand them the embedded
        # cluster's URL, which the supervisor keeps valid (same port) across restarts.
        os.environ["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    try:
        if workers == 1:
            uvicorn.run(
                create_app(settings, engine=engine),
                host=bind_host,
                port=bind_port,
                log_config=log_config,
                **forwarding,
            )
            return
        # Each worker process builds its own app and engine from the environment; the
        # database is already up and migrated, so their start-up only connects.
        engine.dispose()
        uvicorn.run(
            "api.main:create_app",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_config=log_config,
            **forwarding,
        )
    finally:
        if supervisor is not None:
            supervisor.stop()
