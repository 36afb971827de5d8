"""``gridpatrol plan-patrols``, ``map patrols`` and ``load --layer tracks`` end to end on the
demo city; bad input exits 2 naming the problem and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import gpxpy.gpx
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
REQUEST = {
    "name": "cli patrol",
    "start_at": "2026-11-24T18:00:00+08:00",
    "time_limit_s": 1,
    "patrollers": [{"name": "Wang", "start": {"lon": 104.05, "lat": 30.66}}],
    "stops": {"facilities": ["checkpoint"]},
}


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_plan_from_file_and_flags_then_map_and_track(
    city_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(city_engine)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(REQUEST), encoding="utf-8")
    # The file, with flags on top: a second patroller at a station, compare both modes.
    result = runner.invoke(
        app,
        [
            "plan-patrols",
            str(request),
            "--compare",
            "--point",
            "104.06,30.66,market gate",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["name"] == "cli patrol" and plan["comparison"] is not None
    refs = {s["ref"] for r in plan["routes"] for s in r["stops"]} | {
        u["ref"] for u in plan["unserved"]
    }
    assert "market gate" in refs
    # Flags alone, as a table.
    table = runner.invoke(
        app,
        [
            "plan-patrols",
            "--patroller",
            "Li@FAC-000005",
            "--patroller",
            "Wang@104.05,30.66@990101",
            "--facility",
            "checkpoint",
            "--mode",
            "by_district",
            "--time-limit-s",
            "1",
            "--start-at",
            "2026-11-24T18:00:00+08:00",
            "--max-walk-km",
            "3",
        ],
    )
    assert table.exit_code == 0, table.output
    assert "plan " in table.output and "Wang" in table.output and "Li" in table.output
    assert _count(city_engine, "patrol_plans") == 3
    with city_engine.connect() as conn:
        limits, longest = conn.execute(
            text(
                "SELECT array_agg(DISTINCT (pt->>'max_walk_km')::float8), "
                "  (SELECT max(length_m) FROM patrol_routes r WHERE r.plan_id = p.id) "
                "FROM patrol_plans p, jsonb_array_elements(p.request->'patrollers') pt "
                "WHERE p.id = (SELECT max(id) FROM patrol_plans) GROUP BY p.id"
            )
        ).one()
    assert limits == [3.0] and longest <= 3000

    page = tmp_path / "patrols.html"
    mapped = runner.invoke(app, ["map", "patrols", "--id", str(plan["id"]), "-o", str(page)])
    assert mapped.exit_code == 0, mapped.output
    html = page.read_text(encoding="utf-8")
    assert "polylineDecorator" in html and "cdn.jsdelivr" not in html

    route = next(r for r in plan["routes"] if r["geometry"])
    document = gpxpy.gpx.GPX()
    segment = gpxpy.gpx.GPXTrackSegment()
    t0 = datetime.fromisoformat(REQUEST["start_at"])  # type: ignore[arg-type]
    segment.points = [
        gpxpy.gpx.GPXTrackPoint(lat, lon, time=t0 + timedelta(seconds=30 * k))
        for k, (lon, lat) in enumerate(route["geometry"]["coordinates"])
    ]
    track = gpxpy.gpx.GPXTrack()
    track.segments.append(segment)
    document.tracks.append(track)
    gpx = tmp_path / "track.gpx"
    gpx.write_text(document.to_xml(), encoding="utf-8")
    loaded = runner.invoke(
        app, ["load", str(gpx), "--layer", "tracks", "--patrol", str(plan["id"]), "--json"]
    )
    assert loaded.exit_code == 0, loaded.output
    body = json.loads(loaded.stdout)
    assert body["plan_id"] == plan["id"] and body["route_seq"] == route["seq"]
    assert body["grids"]


def test_bad_input_exits_2_and_stores_nothing(
    city_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(city_engine)
    bad = tmp_path / "bad.json"
    bad.write_text('{"patrollers": [', encoding="utf-8")
    cases = [
        (["plan-patrols", str(bad)], "not a readable JSON request"),
        (["plan-patrols", "--patroller", "Wang", "--facility", "checkpoint"], "NAME@LON,LAT"),
        (["plan-patrols", "--patroller", "Wang@104.05,30.66"], "choose at least one kind"),
        (
            ["plan-patrols", "--patroller", "Wang@104.05,30.66", "--building", "NOPE"],
            "no building with code(s) NOPE",
        ),
        (["plan-patrols", "--point", "104.06,x,gate"], "--point"),
        (
            ["plan-patrols", "--patroller", "Wang@104.05,30.66", "--max-walk-km", "0"]
            + ["--facility", "checkpoint"],
            "max_walk_km",
        ),
    ]
    for args, expected in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in " ".join(result.output.split()), (args, result.output)
    assert _count(city_engine, "patrol_plans") == 0
    track = tmp_path / "track.gpx"
    track.write_text("<gpx></gpx>", encoding="utf-8")
    no_plan = runner.invoke(app, ["load", str(track), "--layer", "tracks"])
    assert no_plan.exit_code == 2 and "--patrol" in no_plan.output
    missing = runner.invoke(app, ["load", str(track), "--layer", "tracks", "--patrol", "42"])
    assert missing.exit_code == 4 and "no patrol plan with id 42" in missing.output
    assert _count(city_engine, "patrol_tracks") == 0


def test_objective_and_stale_grids_from_flags(
    city_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    use_database(city_engine)
    base = [
        "plan-patrols",
        "--patroller",
        "A@FAC-000005",
        "--patroller",
        "B@FAC-000005",
        "--stale-grids",
        "7",
        "--time-limit-s",
        "1",
        "--start-at",
        "2026-11-24T18:00:00+08:00",
    ]
    balanced = runner.invoke(app, [*base, "--json"])
    assert balanced.exit_code == 0, balanced.output
    plan = json.loads(balanced.stdout)
    assert plan["objective"] == "balanced"
    kinds = {s["kind"] for r in plan["routes"] for s in r["stops"]}
    assert kinds == {"stale_grid"}
    assert [s["stops"] for s in plan["shares"]] == [len(r["stops"]) for r in plan["routes"]]
    table = runner.invoke(app, [*base, "--objective", "shortest"])
    assert table.exit_code == 0, table.output
    assert "shortest" in table.output and "share" in table.output
    bad = runner.invoke(app, [*base, "--objective", "fastest"])
    assert bad.exit_code == 2 and "objective" in bad.output
