"""``gridpatrol map KIND -o FILE.html``: standalone map pages that open with no network.

``map`` is a command group: other topics add their kinds with ``@map_app.command("…")``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import folium
import typer
from sqlalchemy import Connection

from cli.app import app, configured_categories, console, open_engine, run, warn_if_empty
from cli.hotspots import (
    CategoryOpt,
    PermutationsOpt,
    SeedOpt,
    SinceOpt,
    SizeOpt,
    UnitOpt,
    UntilOpt,
    cli_window,
)
from gis.analysis.hotspots import DEFAULT_PERMUTATIONS, DEFAULT_SEED, DEFAULT_UNIT
from gis.core.errors import InvalidInput
from gis.core.settings import Settings, get_settings
from gis.territory.layers import parse_bbox
from gis.territory.map_data import DEFAULT_BUILDING_LIMIT
from maps.assets import check_installed, write
from maps.pages import coverage_page, grids_page, hotspots_page
from maps.vector import TileSource

map_app = typer.Typer(help="Write a standalone map page (.html).", no_args_is_help=True)
app.add_typer(map_app, name="map")

Output = Annotated[Path, typer.Option("-o", "--output", help="the .html file to write")]
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="base URL of a running gridpatrol (e.g. http://10.0.0.5:8000): the page loads its "
        "layers as vector tiles from there instead of carrying them (for large cities)",
    ),
]


def _tiles(server: str | None) -> TileSource | None:
    """The tile server a page should use, after checking the URL looks like one."""
    if server is None:
        return None
    if not server.startswith(("http://", "https://")):
        raise InvalidInput(
            f"--server must be an http(s) URL such as http://host:8000, got {server!r}"
        )
    return TileSource(server.rstrip("/"))


def _write_page(output: Path, build: Callable[[Connection, Settings], folium.Map]) -> None:
    """Build a page with the same function the API serves it with, and write it standalone."""
    run(check_installed)  # before any database work: the page could not be written
    settings = get_settings()
    engine = open_engine(settings)
    warn_if_empty(engine, settings, consequence="the map will show nothing")
    with engine.connect() as conn:
        fmap = run(lambda: build(conn, settings))
    # Missing map assets are a message naming the fix, not a traceback.
    console.print(f"wrote {run(lambda: write(fmap, output))}", highlight=False)


@map_app.command("grids")
def map_grids(
    output: Output,
    bbox: Annotated[
        str | None, typer.Option(help="minx,miny,maxx,maxy (EPSG:4326): draw buildings here")
    ] = None,
    building_limit: Annotated[int, typer.Option(help="most buildings drawn")] = (
        DEFAULT_BUILDING_LIMIT
    ),
    problems: Annotated[bool, typer.Option(help="highlight topology problems")] = True,
    reports: Annotated[bool, typer.Option(help="show open reports")] = True,
    server: Server = None,
) -> None:
    """Districts, communities, grids, buildings by grid, topology problems, open reports."""
    box = run(lambda: parse_bbox(bbox))
    tiles = run(lambda: _tiles(server))
    _write_page(
        output,
        lambda conn, settings: grids_page(
            conn,
            settings,
            bbox=box,
            building_limit=building_limit,
            problems=problems,
            reports=reports,
            tiles=tiles,
        ),
    )


@map_app.command("coverage")
def map_coverage(output: Output, server: Server = None) -> None:
    """District borders, communities and grids across districts, enclave parts."""
    tiles = run(lambda: _tiles(server))
    _write_page(output, lambda conn, settings: coverage_page(conn, settings, tiles=tiles))


@map_app.command("hotspots")
def map_hotspots(
    output: Output,
    unit: UnitOpt = DEFAULT_UNIT,
    size_m: SizeOpt = None,
    category: CategoryOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    permutations: PermutationsOpt = DEFAULT_PERMUTATIONS,
    seed: SeedOpt = DEFAULT_SEED,
    server: Server = None,
) -> None:
    """Hot and cold spots coloured by Gi* bin, with a heatmap of the reports."""
    settings = get_settings()
    categories = configured_categories(settings)
    window = cli_window(settings, since, until)
    tiles = run(lambda: _tiles(server))
    _write_page(
        output,
        lambda conn, settings: hotspots_page(
            conn,
            settings,
            categories=categories,
            tiles=tiles,
            unit=unit,
            size_m=size_m,
            category_codes=category,
            since=window.since,
            until=window.until,
            permutations=permutations,
            seed=seed,
        ),
    )
