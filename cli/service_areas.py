"""``gridpatrol service-areas``, ``gridpatrol site-stations`` and ``gridpatrol map
service-areas``: the 15-minute life circle from the same domain functions as the API."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.app import app, console, json_option, open_engine, run
from cli.maps import Output, Server, _tiles, _write_page, map_app
from gis.core.settings import get_settings
from gis.service_areas.gaps import Gaps, find_gaps
from gis.service_areas.siting import Siting, site_stations
from gis.service_areas.walk import DEFAULT_KIND, DEFAULT_MINUTES, DEFAULT_WALK_SPEED_KMH
from maps.service_areas import service_areas_page

KindOpt = Annotated[str, typer.Option("--kind", help="facility kind")]
MinutesOpt = Annotated[float, typer.Option("--minutes", help="the walk limit, minutes")]
SpeedOpt = Annotated[float, typer.Option("--walk-speed-kmh", help="walking speed, km/h")]


def _print_gaps(gaps: Gaps, *, top: int) -> None:
    console.print(
        f"{gaps.facilities} {gaps.kind} facilities; {gaps.buildings:,} buildings, "
        f"{gaps.residents:,} residents. Beyond {gaps.minutes:g} min at "
        f"{gaps.walk_speed_kmh:g} km/h ({gaps.limit_m:,.0f} m): {gaps.beyond_buildings:,} "
        f"buildings, {gaps.beyond_residents:,} residents "
        f"({gaps.not_connected_buildings} not connected). Nearest facility in another "
        f"district: {gaps.across_border_matched:,} buildings.",
        highlight=False,
    )
    table = Table(
        "district", "buildings", "residents", "beyond (bld)", "beyond (res)", "across border"
    )
    for u in gaps.by_district:
        table.add_row(
            f"{u.name or ''} {u.code or '(none)'}",
            f"{u.buildings:,}",
            f"{u.residents:,}",
            f"{u.beyond_buildings:,}",
            f"{u.beyond_residents:,}",
            f"{u.across_border_buildings:,}",
        )
    console.print(table)
    table = Table("community", "beyond (bld)", "beyond (res)", "across border")
    for u in gaps.by_community:
        if u.beyond_buildings or u.across_border_buildings:
            table.add_row(
                f"{u.name or ''} {u.code or '(none)'}",
                f"{u.beyond_buildings:,}",
                f"{u.beyond_residents:,}",
                f"{u.across_border_buildings:,}",
            )
    console.print(table)
    if gaps.gaps:
        table = Table("building", "residents", "walk min", "nearest", "district → facility's")
        for b in gaps.gaps[:top]:
            table.add_row(
                b.code,
                str(b.residents),
                "not connected" if b.walk_minutes is None else f"{b.walk_minutes:.1f}",
                b.nearest_facility or "–",
                f"{b.district_code or '–'} → {b.nearest_facility_district or '–'}",
            )
        console.print(table)


@app.command("service-areas")
def service_areas(
    kind: KindOpt = DEFAULT_KIND,
    minutes: MinutesOpt = DEFAULT_MINUTES,
    walk_speed_kmh: SpeedOpt = DEFAULT_WALK_SPEED_KMH,
    top: Annotated[int, typer.Option(help="farthest buildings listed in the table")] = 20,
    as_json: Annotated[bool, json_option("the gaps as JSON (every building)")] = False,
) -> None:
    """Buildings beyond the walk limit from every facility of a kind, per community and
    district, and those whose nearest facility lies in another district."""
    engine = open_engine(get_settings())

    def action() -> Gaps:
        with engine.connect() as conn:
            return find_gaps(conn, kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh)

    gaps = run(action)
    if as_json:
        console.print_json(json.dumps(gaps.to_dict(), ensure_ascii=False))
        return
    _print_gaps(gaps, top=top)


@app.command("site-stations")
def site_stations_command(
    new: Annotated[int, typer.Option("--new", help="how many new sites")],
    candidates: Annotated[
        str, typer.Option(help="buildings, or facilities (of other kinds)")
    ] = "buildings",
    kind: KindOpt = DEFAULT_KIND,
    minutes: MinutesOpt = DEFAULT_MINUTES,
    walk_speed_kmh: SpeedOpt = DEFAULT_WALK_SPEED_KMH,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Where ``--new`` facilities would bring the most residents within the walk limit
    (maximum coverage, solved exactly), with the greedy baseline beside it."""
    engine = open_engine(get_settings())

    def action() -> Siting:
        with engine.connect() as conn:
            return site_stations(
                conn,
                new_sites=new,
                candidates=candidates,
                kind=kind,
                minutes=minutes,
                walk_speed_kmh=walk_speed_kmh,
            )

    result = run(action)
    if as_json:
        console.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    console.print(
        f"{result.new_sites} new {result.kind} sites among {result.candidates:,} candidates "
        f"({result.useful_candidates:,} within reach of a building beyond the limit): residents "
        f"within {result.minutes:g} min {result.covered_before:,} → {result.covered_after:,} "
        f"of {result.residents:,} ({'optimal' if result.optimal else result.status}, MIP gap "
        f"{result.mip_gap}); greedy baseline → {result.greedy_covered_after:,}",
        highlight=False,
    )
    table = Table("site", "lon", "lat", "district", "new residents", "new buildings")
    for s in result.sites:
        table.add_row(
            s.label,
            f"{s.lon:.6f}",
            f"{s.lat:.6f}",
            s.district_code or "–",
            f"{s.new_residents:,}",
            str(s.new_buildings),
        )
    console.print(table)
    table = Table("district", "residents", "within before", "within after")
    for d in result.by_district:
        table.add_row(
            f"{d.name or ''} {d.code or '(none)'}",
            f"{d.residents:,}",
            f"{d.covered_before:,}",
            f"{d.covered_after:,}",
        )
    console.print(table)


@map_app.command("service-areas")
def map_service_areas(
    output: Output,
    kind: KindOpt = DEFAULT_KIND,
    minutes: MinutesOpt = DEFAULT_MINUTES,
    walk_speed_kmh: SpeedOpt = DEFAULT_WALK_SPEED_KMH,
    new_sites: Annotated[int, typer.Option(help="also propose this many new sites")] = 0,
    server: Server = None,
) -> None:
    """Walk areas per facility, buildings beyond the limit by minutes, district borders, and
    (with --new-sites) proposed sites."""
    tiles = run(lambda: _tiles(server))
    _write_page(
        output,
        lambda conn, settings: service_areas_page(
            conn,
            settings,
            kind=kind,
            minutes=minutes,
            walk_speed_kmh=walk_speed_kmh,
            new_sites=new_sites,
            tiles=tiles,
        ),
    )
