"""``gridpatrol map …``: standalone HTML maps that open with no network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, console
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
from gis.settings import get_settings
from maps.assets import write
from maps.hotspots import hotspot_map

map_app = typer.Typer(help="Standalone HTML maps (offline: assets inlined).", no_args_is_help=True)
app.add_typer(map_app, name="map")

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="HTML file to write")]


@map_app.command("hotspots")
def map_hotspots(
    output: OutputOpt,
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
    write(fmap, output)
    console.print(str(output), highlight=False)
