"""Commands for grid topology: ``validate`` and the explicit ``repair``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cli.app import app, console, json_option, open_engine, run, warn_if_empty
from gis.core.settings import get_settings
from gis.territory.repair import repair_geometries
from gis.territory.topology import TopologyReport, validate_topology


def _rows(report: TopologyReport) -> list[tuple[str, str, str, str]]:
    """(kind, where, area m², detail) per finding, in the order a person fixes them."""
    rows: list[tuple[str, str, str, str]] = []
    for g in report.invalid_geometries:
        rows.append(("invalid geometry", f"{g.layer} {g.code}", "", g.reason))
    for p in report.code_problems:
        rows.append(("code", f"{p.layer} {p.code}", "", p.problem))
    for gap in report.gaps:
        rows.append(("gap", f"community {gap.community_code}", f"{gap.area_m2:,.2f}", ""))
    for o in report.overlaps:
        where = " × ".join(o.grid_codes)
        detail = "" if o.community_codes[0] == o.community_codes[1] else "different communities"
        rows.append(("overlap", where, f"{o.area_m2:,.2f}", detail))
    for out in report.outside_community:
        into = ", ".join(out.into_community_codes) or "no community"
        rows.append(
            (
                "outside community",
                f"grid {out.grid_code}",
                f"{out.area_m2:,.2f}",
                f"reaches into {into}",
            )
        )
    for b in report.split_buildings:
        shares = ", ".join(f"{code} {share:.0%}" for code, share in b.shares.items())
        rows.append(("split building", f"building {b.code}", "", shares))
    for u in report.unassigned_buildings:
        rows.append(("unassigned building", f"building {u.code}", "", "in no grid"))
    network = report.network
    if network is not None:
        for code in network.unreachable_grids:
            rows.append(("unreachable grid", f"grid {code}", "", "no street of the main network"))
        for code in network.unreachable_service_stations:
            rows.append(
                (
                    "unreachable station",
                    f"facility {code}",
                    "",
                    f"no main-network street within {network.reach_m:g} m",
                )
            )
        for code in network.unreachable_building_codes:
            rows.append(
                (
                    "unreachable building",
                    f"building {code}",
                    "",
                    f"no main-network street within {network.reach_m:g} m",
                )
            )
    for s in report.slivers:
        rows.append(
            (
                "sliver (warning)",
                f"community {s.community_code}",
                f"{s.area_m2:,.3f}",
                f"below {report.sliver_area_m2:g} m²",
            )
        )
    return rows


def print_report(report: TopologyReport) -> None:
    """The report as a rich table and a one-line verdict."""
    rows = _rows(report)
    if rows:
        table = Table("problem", "where", "area m²", "detail", title="Grid topology")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if report.empty:
        console.print("[bold red]nothing checked[/]: the database holds no territory")
        return
    verdict = (
        "[bold green]clean[/]" if report.ok else f"[bold red]{report.problem_count} problem(s)[/]"
    )
    warnings = f", {len(report.slivers)} sliver(s)" if report.slivers else ""
    console.print(f"{verdict}{warnings}")
    network = report.network
    if network is not None and network.components:
        main = next(c for c in network.components if c.main)
        console.print(
            f"street network: {network.edges:,} edges in {len(network.components)} "
            f"component(s); main {main.length_m / 1000:,.1f} km"
            + (
                f", {network.unreachable_buildings:,} building(s) out of its reach"
                if network.unreachable_buildings
                else ""
            ),
            highlight=False,
        )
    elif network is not None:
        console.print("street network: none (load a roads layer to plan patrols)")
    if network is not None and network.crossings_hint:
        console.print(f"[yellow]warning[/]: {network.crossings_hint}", highlight=False)


@app.command("validate")
def validate(
    as_json: Annotated[bool, json_option("machine-readable report")] = False,
    sliver_m2: Annotated[
        float | None, typer.Option(help="gaps below this area (m²) are slivers (warnings)")
    ] = None,
    split_share: Annotated[
        float | None, typer.Option(help="buildings whose largest grid holds less are split")
    ] = None,
) -> None:
    """Check grids: gaps, overlaps, outside their community, invalid geometries, codes,
    split and unassigned buildings. Exits 1 when problems are found, or nothing was checked
    (the database holds no territory)."""
    settings = get_settings()
    engine = open_engine(settings)
    warn_if_empty(engine, settings, consequence="there is nothing to validate (not clean)")
    try:
        with engine.connect() as conn:
            report = run(
                lambda: validate_topology(
                    conn,
                    sliver_area_m2=settings.sliver_area_m2 if sliver_m2 is None else sliver_m2,
                    split_share=settings.split_share if split_share is None else split_share,
                )
            )
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("repair")
def repair(
    layer: Annotated[
        list[str] | None, typer.Option(help="polygon layer(s) to repair (default: all)")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="show what would change, write nothing")] = False,
    as_json: Annotated[bool, json_option()] = False,
) -> None:
    """Rewrite invalid polygons with ST_MakeValid (explicit; validate never repairs)."""
    engine = open_engine(get_settings())
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            repaired = run(lambda: repair_geometries(conn, layers=layer))
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps([r.__dict__ for r in repaired], ensure_ascii=False))
        return
    table = Table("layer", "code", "reason", "area before m²", "area after m²")
    for r in repaired:
        table.add_row(
            r.layer, r.code, r.reason, f"{r.area_before_m2:,.2f}", f"{r.area_after_m2:,.2f}"
        )
    console.print(table)
    done = "would repair" if dry_run else "repaired"
    console.print(f"{done} {len(repaired)} geometr{'y' if len(repaired) == 1 else 'ies'}")
