"""``gridpatrol plan-patrols`` (as ``POST /patrols/plan``), ``gridpatrol map patrols`` and the
GPS-track import behind ``gridpatrol load FILE --layer tracks --patrol ID``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from cli.app import (
    app,
    configured_categories,
    console,
    fail,
    json_option,
    open_engine,
    run,
    warn_if_empty,
)
from cli.maps import Output, _write_page, map_app
from gis.core.errors import InvalidInput, validation_problems
from gis.core.settings import get_settings
from gis.patrols.request import PlanRequest
from gis.patrols.service import create_patrol_plan
from gis.patrols.tracks import check_track_target, read_track, read_track_file, record_track
from maps.pages import patrols_page


def _place(text: str, where: str) -> dict[str, Any]:
    """``LON,LAT`` or a facility code."""
    parts = text.split(",")
    if len(parts) == 2:
        try:
            return {"lon": float(parts[0]), "lat": float(parts[1])}
        except ValueError:
            pass
    if not text or "," in text:
        raise InvalidInput(f"{where}: expected LON,LAT or a facility code, got {text!r}")
    return {"facility": text}


def _patroller(text: str, shift_minutes: float | None, max_walk_km: float | None) -> dict[str, Any]:
    """``NAME@LON,LAT`` or ``NAME@FACILITY`` (optionally ``…@DISTRICT`` after a second @)."""
    parts = text.split("@")
    if len(parts) not in (2, 3) or not parts[0]:
        raise InvalidInput(
            f"--patroller: expected NAME@LON,LAT or NAME@FACILITY_CODE[@DISTRICT], got {text!r}"
        )
    patroller: dict[str, Any] = {"name": parts[0], "start": _place(parts[1], "--patroller")}
    if len(parts) == 3:
        patroller["district"] = parts[2]
    if shift_minutes is not None:
        patroller["shift_minutes"] = shift_minutes
    if max_walk_km is not None:
        patroller["max_walk_km"] = max_walk_km
    return patroller


def _point(text: str) -> dict[str, Any]:
    parts = text.split(",", 2)
    try:
        return {"lon": float(parts[0]), "lat": float(parts[1]), "label": parts[2]}
    except (ValueError, IndexError):
        raise InvalidInput(f"--point: expected LON,LAT,LABEL, got {text!r}") from None


def build_request(
    file: Path | None, flags: dict[str, Any], stop_flags: dict[str, Any]
) -> PlanRequest:
    """The request of a JSON file (``-``: stdin) with the flags given on top of it."""
    body: dict[str, Any] = {}
    if file is not None:
        try:
            raw = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
            body = json.loads(raw)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{file}: not a readable JSON request: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidInput(f"{file}: the request must be a JSON object")
    body |= {k: v for k, v in flags.items() if v is not None}
    stops = dict(body.get("stops") or {})
    stops |= {k: v for k, v in stop_flags.items() if v not in (None, [], False)}
    body["stops"] = stops
    try:
        return PlanRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(validation_problems(exc, whole="request")) from exc


def print_plan(plan: dict[str, Any]) -> None:
    """Routes, stops and the comparison as tables."""
    # Times as the API gives them: in GRIDPATROL_TIMEZONE, with its offset.
    console.print(
        f"plan {plan['id']} ({plan['mode']}, {plan['objective']}) starting {plan['start_at']} "
        f"({get_settings().timezone}): {plan['served']} stop(s) served, "
        f"{len(plan['unserved'])} unserved, {plan['total_length_m'] / 1000:,.2f} km, "
        f"{plan['total_minutes']:,.0f} patroller-minutes",
        highlight=False,
    )
    routes = Table(
        "#", "patroller", "district", "stops", "km", "minutes", "share", "back at", "districts"
    )
    for r, share in zip(plan["routes"], plan["shares"], strict=True):
        routes.add_row(
            str(r["seq"]),
            r["patroller"]["name"],
            r["patroller"]["district"] or "",
            str(len(r["stops"])),
            f"{r['length_m'] / 1000:,.2f}",
            f"{r['duration_minutes']:,.0f}",
            f"{100 * share['of_longest']:.0f} %",
            r["return_at"][11:16],
            ", ".join(r["districts"]),
        )
    console.print(routes)
    if plan["over_capacity"]:
        console.print(
            f"[bold red]over capacity[/]: {plan['over_capacity']} required stop(s) do not fit "
            f"the shifts; about {plan['missing_patroller_hours']:,.1f} more patroller-hour(s) "
            "would serve them",
            highlight=False,
        )
    late = [s for r in plan["routes"] for s in r["stops"] if s["late"]]
    if late:
        console.print(
            f"[bold red]{len(late)} stop(s) late[/]: "
            + ", ".join(f"{s['kind']} {s['ref']} (+{s['late_minutes']:.0f} min)" for s in late[:10])
        )
    if plan["unserved"]:
        table = Table("unserved", "ref", "district", "reason", title="Unserved stops")
        for u in plan["unserved"][:30]:
            table.add_row(u["kind"], u["ref"], u["district_code"] or "", u["reason"])
        console.print(table)
    comparison = plan.get("comparison")
    if comparison:
        console.print(
            f"joint {comparison['joint']['total_length_m'] / 1000:,.2f} km "
            f"({comparison['joint']['served']} stops) vs by_district "
            f"{comparison['by_district']['total_length_m'] / 1000:,.2f} km "
            f"({comparison['by_district']['served']} stops): joint saves "
            f"{comparison['saved_m']:,.0f} m ({comparison['saved_pct']:g} %) and serves "
            f"{comparison['stops_gained']:+d} stop(s)",
            highlight=False,
        )


@app.command("plan-patrols")
def plan_patrols_command(
    request_file: Annotated[
        Path | None,
        typer.Argument(help="JSON request as for POST /patrols/plan ('-': stdin); flags add to it"),
    ] = None,
    patroller: Annotated[
        list[str] | None,
        typer.Option(help="NAME@LON,LAT or NAME@FACILITY_CODE, optionally @DISTRICT (repeat)"),
    ] = None,
    shift_minutes: Annotated[float | None, typer.Option(help="shift of --patroller ones")] = None,
    max_walk_km: Annotated[
        float | None, typer.Option(help="furthest each --patroller one walks (km of street)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="joint or by_district")] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            help="balanced (default: the longest patroller's time first, then the team's "
            "walk) or shortest (the team's walk only)"
        ),
    ] = None,
    compare: Annotated[
        bool | None, typer.Option("--compare/--no-compare", help="also plan the other mode")
    ] = None,
    start_at: Annotated[str | None, typer.Option(help="ISO 8601 with offset")] = None,
    time_limit_s: Annotated[float | None, typer.Option(help="solver budget per mode")] = None,
    name: Annotated[str | None, typer.Option(help="plan name")] = None,
    open_reports: Annotated[bool, typer.Option(help="open reports (required stops)")] = False,
    hot_grids: Annotated[
        int | None, typer.Option(help="Gi* hot grids at this confidence (90, 95, 99)")
    ] = None,
    stale_grids: Annotated[
        int | None, typer.Option(help="grids no GPS track has passed in this many days")
    ] = None,
    facility: Annotated[list[str] | None, typer.Option(help="facility kind (repeat)")] = None,
    building: Annotated[list[str] | None, typer.Option(help="building code (repeat)")] = None,
    point: Annotated[list[str] | None, typer.Option(help="LON,LAT,LABEL (repeat)")] = None,
    district: Annotated[list[str] | None, typer.Option(help="stops in district (repeat)")] = None,
    community: Annotated[list[str] | None, typer.Option(help="stops in community (repeat)")] = None,
    as_json: Annotated[bool, json_option("the stored plan as JSON")] = False,
) -> None:
    """Plan patrols on the street network and store the plan (same fields as the API)."""
    flags: dict[str, Any] = {
        "mode": mode,
        "objective": objective,
        "compare": compare,
        "start_at": start_at,
        "time_limit_s": time_limit_s,
        "name": name,
    }
    if patroller:
        flags["patrollers"] = run(
            lambda: [_patroller(p, shift_minutes, max_walk_km) for p in patroller]
        )
    stop_flags: dict[str, Any] = {
        "open_reports": open_reports,
        "hot_grids": None if hot_grids is None else {"confidence": hot_grids},
        "stale_grids": None if stale_grids is None else {"days": stale_grids},
        "facilities": facility or [],
        "buildings": building or [],
        "points": run(lambda: [_point(p) for p in point or []]),
        "districts": district or None,
        "communities": community or None,
    }
    settings = get_settings()
    request = run(lambda: build_request(request_file, flags, stop_flags)).in_zone(settings.zone)
    categories = configured_categories(settings)
    engine = open_engine(settings)
    warn_if_empty(engine, settings, consequence="no street, report or grid to plan with")
    plan = run(lambda: create_patrol_plan(engine, request, categories=categories)).model_dump(
        mode="json"
    )
    if as_json:
        print(json.dumps(plan, ensure_ascii=False))
        return
    print_plan(plan)


@map_app.command("patrols")
def map_patrols(
    output: Output,
    plan_id: Annotated[int, typer.Option("--id", help="the plan's id (gridpatrol plan-patrols)")],
) -> None:
    """A plan's routes coloured per patroller with direction, numbered stops, unserved stops,
    district borders; a compared plan's other mode as a toggled layer."""
    _write_page(output, lambda conn, settings: patrols_page(conn, settings, plan_id=plan_id))


def load_track(
    path: Path, *, plan_id: int | None, route: int | None, radius_m: float, as_json: bool
) -> None:
    """``gridpatrol load FILE --layer tracks --patrol ID``: store a GPS track for a plan."""
    if plan_id is None:
        fail(InvalidInput("--layer tracks needs --patrol PLAN_ID (the plan the track walked)"))
    settings = get_settings()
    engine = open_engine(settings)

    def check_target() -> None:
        with engine.connect() as conn:
            check_track_target(conn, plan_id, route)

    run(check_target)
    # Refused once the file passes the limit, before anything parses it.
    data = run(lambda: read_track_file(path, max_bytes=settings.max_track_bytes))
    parsed = run(lambda: read_track(data))

    track = run(lambda: record_track(engine, plan_id, parsed, route_seq=route, radius_m=radius_m))
    if as_json:
        print(json.dumps(track, ensure_ascii=False))
        return
    if track["already_stored"]:
        console.print(
            f"the same fixes were stored for plan {track['plan_id']} before: track "
            f"{track['id']}, nothing stored again",
            highlight=False,
        )
    console.print(
        f"track {track['id']} for plan {track['plan_id']} route {track['route_seq']} "
        f"({track['patroller']}): {track['points']} points, {track['length_m'] / 1000:,.2f} km, "
        f"{track['started_at']} – {track['ended_at']}",
        highlight=False,
    )
    console.print(
        f"stops passed {len(track['stops_passed'])}, missed {len(track['stops_missed'])} "
        f"(within {track['radius_m']:g} m of their street points); "
        f"grids walked: {len(track['grids'])}",
        highlight=False,
    )
