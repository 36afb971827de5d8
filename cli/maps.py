"""``gridpatrol map KIND -o FILE.html``: standalone map pages that open with no network.

``map`` is a command group: other topics add their kinds with ``@map_app.command("…")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, console, open_engine, run
from cli.hotspots import (
    CategoryOpt,
    PermutationsOpt,
    SeedOpt,
    SinceOpt,
    SizeOpt,
    UnitOpt,
    UntilOpt,
    run_hotspots,
)
from gis.hotspots import DEFAULT_PERMUTATIONS, DEFAULT_SEED, DEFAULT_UNIT
from gis.layers import parse_bbox
from gis.mapping import DEFAULT_BUILDING_LIMIT
from gis.settings import get_settings
from maps.assets import write
from maps.hotspots import hotspot_map
from maps.pages import coverage_page, grids_page

map_app = typer.Typer(help="Write a standalone map page (.html).", no_args_is_help=True)
app.add_typer(map_app, name="map")

Output = Annotated[Path, typer.Option("-o", "--output", help="the .html file to write")]


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
) -> None:
    """Districts, communities, grids, buildings by grid, topology problems, open reports."""
    settings = get_settings()
    box = run(lambda: parse_bbox(bbox))
    engine = open_engine(settings)
    try:
        with engine.connect() as conn:
            fmap = run(
                lambda: grids_page(
                    conn,
                    settings,
                    bbox=box,
                    building_limit=building_limit,
                    problems=problems,
                    reports=reports,
                )
            )
    finally:
        engine.dispose()
    console.print(f"wrote {write(fmap, output)}", highlight=False)


@map_app.command("coverage")
def map_coverage(output: Output) -> None:
    """District borders, communities and grids across districts, enclave parts."""
    settings = get_settings()
    engine = open_engine(settings)
    try:
        with engine.connect() as conn:
            fmap = run(lambda: coverage_page(conn, settings))
    finally:
        engine.dispose()
    console.print(f"wrote {write(fmap, output)}", highlight=False)


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
) -> None:
    """Hot and cold spots coloured by Gi* bin, with a heatmap of the reports."""
    result, heat = run_hotspots(
        unit=unit,
        size_m=size_m,
        category=category,
        since=since,
        until=until,
        permutations=permutations,
        seed=seed,
        with_heat=True,
    )
    settings = get_settings()
    fmap = hotspot_map(
        result, heat_points=heat, tile_url=settings.tile_url, attribution=settings.tile_attribution
    )
    console.print(f"wrote {write(fmap, output)}", highlight=False)
