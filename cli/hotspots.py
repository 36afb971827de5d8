"""``gridpatrol hotspots``: Gi* hot and cold spots of reports (as ``GET /analytics/hotspots``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.app import (
    app,
    configured_categories,
    console,
    json_option,
    open_engine,
    run,
    warn_if_empty,
)
from gis.analysis.hotspots import (
    BIN_LABELS,
    DEFAULT_PERMUTATIONS,
    DEFAULT_SEED,
    DEFAULT_UNIT,
    HotspotResult,
    describe_window,
    find_hotspots,
    hotspots_geojson,
)
from gis.core.settings import Settings, get_settings
from gis.core.timewindow import TimeWindow, resolve_window

UnitOpt = Annotated[str, typer.Option(help="hex or grid (Queen contiguity)")]
SizeOpt = Annotated[
    float | None, typer.Option("--size-m", help="hexagon edge length, metres (default 200)")
]
CategoryOpt = Annotated[
    list[str] | None, typer.Option("--category", "-c", help="category code (repeatable)")
]
SinceOpt = Annotated[
    datetime | None,
    typer.Option(help="reported at or after; without an offset, in GRIDPATROL_TIMEZONE"),
]
UntilOpt = Annotated[
    datetime | None,
    typer.Option(help="reported before; without an offset, in GRIDPATROL_TIMEZONE"),
]
PermutationsOpt = Annotated[int, typer.Option(help="permutations for p-values")]
SeedOpt = Annotated[int, typer.Option(help="random seed of the permutations")]


def cli_window(settings: Settings, since: datetime | None, until: datetime | None) -> TimeWindow:
    """``--since``/``--until`` with naive times read in the configured time zone."""
    return run(lambda: resolve_window(since, until, zone=settings.zone))


def run_hotspots(
    *,
    unit: str,
    size_m: float | None,
    category: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    permutations: int,
    seed: int,
) -> HotspotResult:
    """Run the analysis on the configured database."""
    settings = get_settings()
    categories = configured_categories(settings)
    window = cli_window(settings, since, until)
    engine = open_engine(settings)
    warn_if_empty(engine, settings, consequence="there are no units to analyse")

    def action() -> HotspotResult:
        with engine.connect() as conn:
            return find_hotspots(
                conn,
                categories=categories,
                unit=unit,
                size_m=size_m,
                category_codes=category,
                since=window.since,
                until=window.until,
                permutations=permutations,
                seed=seed,
            )

    return run(action)


@app.command("hotspots")
def hotspots(
    unit: UnitOpt = DEFAULT_UNIT,
    size_m: SizeOpt = None,
    category: CategoryOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    permutations: PermutationsOpt = DEFAULT_PERMUTATIONS,
    seed: SeedOpt = DEFAULT_SEED,
    top: Annotated[int, typer.Option(help="significant units listed in the table")] = 20,
    as_json: Annotated[bool, json_option("GeoJSON FeatureCollection")] = False,
) -> None:
    """Where reports cluster: Getis-Ord Gi*, permutation p-values, FDR-corrected bins."""
    result = run_hotspots(
        unit=unit,
        size_m=size_m,
        category=category,
        since=since,
        until=until,
        permutations=permutations,
        seed=seed,
    )
    if as_json:
        console.print_json(json.dumps(hotspots_geojson(result), ensure_ascii=False))
        return
    console.print(
        f"{len(result.units)} {result.unit} units, {result.reports:,} reports, "
        f"{describe_window(result)}",
        highlight=False,
    )
    summary = Table("bin", "meaning", "units")
    for value, count in result.bin_counts().items():
        summary.add_row(f"{value:+d}", BIN_LABELS[value], str(count))
    console.print(summary)
    significant = sorted((u for u in result.units if u.bin), key=lambda u: -abs(u.z))[:top]
    if significant:
        table = Table("unit", "reports", "z", "p", "p (FDR)", "bin")
        for u in significant:
            table.add_row(
                u.id, str(u.count), f"{u.z:.2f}", f"{u.p:.4f}", f"{u.p_fdr:.4f}", f"{u.bin:+d}"
            )
        console.print(table)
