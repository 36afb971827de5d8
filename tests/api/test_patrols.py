"""The patrols API on the demo city: plan (201, stored), list, get, GPS tracks, coverage, and
bad input refused with a clear 4xx and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import gpxpy.gpx
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from shapely.geometry import shape
from sqlalchemy import Engine, text

from api.main import create_app
from gis.patrols.reasons import UnservedCode
from gis.patrols.tracks import SIMPLIFY_TOLERANCE_M
from tests.accounts import account_headers
from tests.conftest import settings_for

START_AT = "2026-11-24T18:00:00+08:00"
PLAN = {
    "name": "evening patrol",
    "start_at": START_AT,
    "mode": "joint",
    "compare": True,
    "walk_speed_kmh": 4.5,
    "service_minutes": 5,
    "time_limit_s": 1,
    "patrollers": [
        {
            "name": "Wang",
            "worker": "W-990101001001001",
            "start": {"lon": 104.05, "lat": 30.66},
            "end": None,
            "shift_minutes": 240,
            "district": "990101",
        },
        {"name": "Li", "start": {"facility": "FAC-000005"}, "shift_minutes": 120},
    ],
    "stops": {
        # The demo's 68 grids leave no hot grid after FDR; the raw permutation p finds some.
        "hot_grids": {"confidence": 95, "dwell_minutes": 12, "fdr": False},
        "facilities": ["checkpoint"],
        "points": [{"lon": 104.06, "lat": 30.66, "label": "market gate", "service_minutes": 10}],
    },
}
_TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
_GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def planned(
    pg_server: Any, templates: dict[str, str]
) -> Iterator[tuple[TestClient, Engine, dict[str, Any]]]:
    """A demo database of this module's own with the example plan stored; the track tests add
    tracks to it and each checks only what its own track changed."""
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        # A dispatcher of the whole city (an admin): patrol plans name patrollers.
        admin = account_headers(engine, "city-admin", "admin")
        app = create_app(settings_for(engine), engine=engine)
        with TestClient(app, headers=admin) as client:
            response = client.post("/patrols/plan", json=PLAN)
            assert response.status_code == 201, response.text
            yield client, engine, response.json()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_plan_is_stored_and_answers_the_contract(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, _, plan = planned
    assert plan["mode"] == "joint"
    assert plan["start_at"] == START_AT
    assert plan["served"] > 0
    assert plan["comparison"]["joint"]["served"] == plan["served"]
    assert plan["comparison"]["saved_m"] == pytest.approx(
        plan["comparison"]["by_district"]["total_length_m"]
        - plan["comparison"]["joint"]["total_length_m"],
        abs=0.11,
    )
    assert plan["alternative"]["mode"] == "by_district"
    wang, li = plan["routes"]
    assert wang["patroller"] == {
        "name": "Wang",
        "worker": "W-990101001001001",
        "district": "990101",
    }
    # Li starts at a service station of district 990102 (its district by location).
    assert li["patroller"]["district"] == "990102"
    total = 0.0
    for route in plan["routes"]:
        assert route["duration_minutes"] <= route["shift_minutes"]
        if not route["stops"]:
            continue
        assert route["geometry"]["type"] == "LineString"
        # The stored line is as long as the street metres the route reports.
        utm = shapely.transform(shape(route["geometry"]), lambda c: _utm(c))
        assert utm.length == pytest.approx(route["length_m"], rel=5e-3)
        assert [s["seq"] for s in route["stops"]] == list(range(1, len(route["stops"]) + 1))
        arrivals = [datetime.fromisoformat(s["arrive_at"]) for s in route["stops"]]
        assert arrivals == sorted(arrivals)
        assert route["districts"]
        total += route["length_m"]
    assert plan["total_length_m"] == pytest.approx(total, abs=0.2)
    kinds = {s["kind"] for r in plan["routes"] for s in r["stops"]} | {
        u["kind"] for u in plan["unserved"]
    }
    assert {"hot_grid", "facility", "point"} <= kinds
    for stop in plan["unserved"]:
        assert stop["reason"] and stop["reason_code"] in {c.value for c in UnservedCode}
    # Stored: the same answer again, and listed (the compared plan only on request).
    assert client.get(f"/patrols/{plan['id']}").json() == plan
    listed = client.get("/patrols").json()
    assert [p["id"] for p in listed["plans"]] == [plan["id"]]
    assert client.get("/patrols?alternatives=true").json()["numberMatched"] == 2
    alternative = client.get(f"/patrols/{plan['alternative']['id']}").json()
    assert alternative["mode"] == "by_district" and alternative["alternative_of"] == plan["id"]


def _utm(coords: Any) -> Any:
    import numpy as np

    x, y = _TO_UTM.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, "colour"),
        ({"stops": {}}, "choose at least one kind of stop"),
        ({"mode": "sideways"}, "mode"),
        ({"objective": "fastest"}, "objective"),
        ({"start_at": 1795000000}, "not a number"),
        ({"start_at": 2026.5}, "not a number"),
        (
            {"stops": {"hot_grids": {"since": 1700000000}}},
            "not a number",
        ),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"patrollers": []}, "patrollers"),
        ({"stops": {"buildings": ["NO-SUCH-BUILDING"]}}, "NO-SUCH-BUILDING"),
        ({"stops": {"facilities": ["bakery"]}}, "bakery"),
        (
            {"patrollers": [{"name": "X", "start": {"facility": "FAC-NOPE"}}]},
            "no facility with code 'FAC-NOPE'",
        ),
        (
            {
                "patrollers": [
                    {"name": "X", "worker": "W-NOPE", "start": {"lon": 104.05, "lat": 30.66}}
                ]
            },
            "no worker with code 'W-NOPE'",
        ),
        (
            {
                "patrollers": [
                    {"name": "X", "start": {"lon": 104.05, "lat": 30.66}, "district": "123456"}
                ]
            },
            "no district with code '123456'",
        ),
        (
            {"patrollers": [{"name": "X", "start": {"lon": 104.3, "lat": 30.9}}]},
            "by_district: patroller(s) X start outside every district",
        ),
        (
            {"compare": False, "patrollers": [{"name": "X", "start": {"lon": 104.3, "lat": 30.9}}]},
            "from the nearest street",
        ),
        (
            {"patrollers": [{"name": "X", "start": {"lon": 104.05, "lat": 30.66}}] * 2},
            "repeated: X",
        ),
    ],
)
def test_bad_plan_requests_are_refused_and_store_nothing(
    city_engine: Engine, change: dict[str, Any], expected: str
) -> None:
    points = PLAN["stops"]["points"]  # type: ignore[index]
    body = {**PLAN, "stops": {"points": points}} | change
    admin = account_headers(city_engine, "city-admin", "admin")
    app = create_app(settings_for(city_engine), engine=city_engine)
    with TestClient(app, headers=admin) as client:
        response = client.post("/patrols/plan", json=body)
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"]
    assert _count(city_engine, "patrol_plans") == 0


def test_unknown_plan_is_404(planned: tuple[TestClient, Engine, dict[str, Any]]) -> None:
    client, _, _ = planned
    response = client.get("/patrols/999999")
    assert response.status_code == 404
    assert response.json()["detail"] == "no patrol plan with id 999999"
    assert client.post("/patrols/999999/track", content=b"<gpx/>").status_code == 404


# ----------------------------------------------------------------------------- tracks
def _walk(route: dict[str, Any], start: datetime) -> list[tuple[float, float, datetime]]:
    """The route's street line walked at 1.25 m/s (one fix per vertex)."""
    coords = route["geometry"]["coordinates"]
    fixes, t = [], start
    for k, (lon, lat) in enumerate(coords):
        if k:
            _, _, step = _GEOD.inv(coords[k - 1][0], coords[k - 1][1], lon, lat)
            t = t + timedelta(seconds=max(1.0, step / 1.25))
        fixes.append((lon, lat, t))
    return fixes


def _gpx(fixes: list[tuple[float, float, datetime | None]]) -> bytes:
    document = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack()
    segment = gpxpy.gpx.GPXTrackSegment()
    segment.points = [gpxpy.gpx.GPXTrackPoint(lat, lon, time=t) for lon, lat, t in fixes]
    track.segments.append(segment)
    document.tracks.append(track)
    xml: str = document.to_xml()
    return xml.encode()


def test_gpx_track_is_matched_to_grids_and_stops(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, engine, plan = planned
    route = next(r for r in plan["routes"] if r["stops"])
    start = datetime.fromisoformat(START_AT)
    fixes = _walk(route, start)
    response = client.post(
        f"/patrols/{plan['id']}/track?radius_m=80",
        content=_gpx(fixes),  # type: ignore[arg-type]
        headers={"Content-Type": "application/gpx+xml"},
    )
    assert response.status_code == 201, response.text
    track = response.json()
    assert track["route_seq"] == route["seq"] and track["source"] == "gpx"
    assert track["points"] == len(fixes)
    line = shapely.transform(shape(route["geometry"]), _utm)
    assert track["length_m"] == pytest.approx(line.length, rel=5e-3)
    # The walk follows the route, so it passes every stop's point on the street (where the
    # route passes closest to the stop), however far the stop stands from the street.
    assert track["stops_missed"] == []
    assert len(track["stops_passed"]) == len(route["stops"])
    assert all(s["distance_m"] <= SIMPLIFY_TOLERANCE_M for s in track["stops_passed"])
    # Grid metres: the line's length inside each grid's polygon grown by the simplification
    # tolerance (shapely in UTM), within 1 % and that tolerance at each of two borders.
    with engine.connect() as conn:
        polygons = {
            code: shapely.transform(shapely.from_wkb(bytes(wkb)), _utm)
            for code, wkb in conn.execute(
                text("SELECT code, ST_AsBinary(geom) FROM grids WHERE code = ANY(:codes)"),
                {"codes": [g["grid_code"] for g in track["grids"]]},
            )
        }
    # Per segment: a street walked out and back counts twice (a union of the line would not).
    segments = [shapely.LineString(line.coords[k : k + 2]) for k in range(len(line.coords) - 1)]
    for grid in track["grids"]:
        polygon = polygons[grid["grid_code"]].buffer(SIMPLIFY_TOLERANCE_M)
        expected = sum(segment.intersection(polygon).length for segment in segments)
        assert grid["length_m"] == pytest.approx(expected, rel=0.01, abs=2 * SIMPLIFY_TOLERANCE_M)
    # Every minute walked is in some grid (border streets count for both; GPX keeps seconds).
    walked_minutes = (fixes[-1][2] - start).total_seconds() / 60
    assert sum(g["minutes"] for g in track["grids"]) >= walked_minutes - 0.1
    # Coverage: the grids walked are not stale in the window; the rest are.
    until = (fixes[-1][2] + timedelta(hours=1)).isoformat()
    coverage = client.get(
        "/patrols/coverage", params={"since": START_AT, "until": until, "limit": 1000}
    ).json()
    walked = {g["grid_code"] for g in track["grids"] if g["length_m"] > 0}
    by_code = {g["grid_code"]: g for g in coverage["grids"]}
    assert {c for c, g in by_code.items() if not g["stale"]} >= walked
    assert coverage["stale_total"] == sum(1 for g in by_code.values() if g["stale"])
    assert coverage["numberMatched"] == len(by_code) == _count(engine, "grids")
    first = next(iter(walked))
    assert by_code[first]["last_patrolled_at"] is not None
    # Before the walk, every grid is stale.
    before = client.get(
        "/patrols/coverage",
        params={"since": "2026-11-01T00:00:00+08:00", "until": START_AT, "stale": "false"},
    ).json()
    assert before["numberMatched"] == 0


def _utm_point(stop: dict[str, Any]) -> tuple[float, float]:
    x, y = _TO_UTM.transform(stop["lon"], stop["lat"])
    return float(x), float(y)


def test_geojson_track_with_times_is_taken(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, _, plan = planned
    route = next(r for r in plan["routes"] if r["stops"])
    fixes = _walk(route, datetime.fromisoformat(START_AT) + timedelta(days=1))
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[x, y] for x, y, _ in fixes]},
        "properties": {"times": [t.isoformat() for _, _, t in fixes]},
    }
    response = client.post(
        f"/patrols/{plan['id']}/track?route={route['seq']}",
        content=json.dumps(feature),
        headers={"Content-Type": "application/geo+json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["source"] == "geojson"


def _bad_tracks() -> list[tuple[str, bytes, str]]:
    t0 = datetime.fromisoformat(START_AT)
    good = [(104.05, 30.66, t0), (104.051, 30.661, t0 + timedelta(minutes=2))]
    backwards = [(104.05, 30.66, t0), (104.051, 30.661, t0 - timedelta(minutes=2))]
    ocean = [(104.05, 30.66, t0), (120.0, 20.0, t0 + timedelta(minutes=2))]
    untimed: list[tuple[float, float, datetime | None]] = [
        (104.05, 30.66, t0),
        (104.051, 30.661, None),
    ]
    no_times = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[104.05, 30.66], [104.051, 30.661]]},
        "properties": {},
    }
    return [
        ("empty", b"", "the track is empty"),
        ("not xml", b"<gpx><trk>", "not a readable GPX file"),
        ("no points", _gpx([]), "no track points"),
        ("one point", _gpx(good[:1]), "at least 2 points"),  # type: ignore[arg-type]
        ("no time", _gpx(untimed), "have no time"),
        ("backwards", _gpx(backwards), "time goes backwards at point 1"),  # type: ignore[arg-type]
        ("ocean", _gpx(ocean), "leaves the city"),  # type: ignore[arg-type]
        ("geojson no times", json.dumps(no_times).encode(), "the track has no times"),
        ("csv", b"lon,lat\n1,2\n", "must be GPX (XML) or GeoJSON"),
    ]


@pytest.mark.parametrize(
    ("name", "body", "expected"), _bad_tracks(), ids=[b[0] for b in _bad_tracks()]
)
def test_bad_tracks_are_refused_and_store_nothing(
    planned: tuple[TestClient, Engine, dict[str, Any]], name: str, body: bytes, expected: str
) -> None:
    client, engine, plan = planned
    before = _count(engine, "patrol_tracks"), _count(engine, "patrol_track_grids")
    response = client.post(f"/patrols/{plan['id']}/track", content=body)
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"]
    assert (_count(engine, "patrol_tracks"), _count(engine, "patrol_track_grids")) == before


def test_coverage_window_must_not_be_reversed(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, _, _ = planned
    response = client.get(
        "/patrols/coverage",
        params={"since": "2026-11-25T00:00:00Z", "until": "2026-11-24T00:00:00Z"},
    )
    assert response.status_code == 422
    assert "since" in response.json()["detail"]


def test_publishing_hands_each_route_to_its_workers_account(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, engine, plan = planned
    wang = account_headers(engine, "wang-phone", "worker", worker="W-990101001001001")
    # Another worker of the same grid's district, with no route in the plan.
    other = account_headers(engine, "other-worker", "worker", scope="990101001001001")
    assert client.get("/patrols?published_to=me", headers=wang).json()["plans"] == []
    assert client.post(f"/patrols/{plan['id']}/publish", headers=wang).status_code == 403
    assert client.post("/patrols/999999/publish").status_code == 404
    response = client.post(f"/patrols/{plan['id']}/publish")
    assert response.status_code == 200, response.text
    published = response.json()
    by_name = {r["patroller"]["name"]: r for r in published["routes"]}
    # Wang is a stored worker with an account; Li is only a name: nothing to hand over to.
    assert by_name["Wang"]["published_to"] == "wang-phone"
    assert by_name["Wang"]["published_at"] is not None
    assert by_name["Li"]["published_to"] is None and by_name["Li"]["published_at"] is None
    # Stored, and the same hand-over time when published again.
    again = client.post(f"/patrols/{plan['id']}/publish").json()
    assert again["routes"] == published["routes"]
    mine = client.get("/patrols?published_to=me", headers=wang).json()
    assert [p["id"] for p in mine["plans"]] == [plan["id"]]
    seen = client.get(f"/patrols/{plan['id']}", headers=wang)
    assert seen.status_code == 200, seen.text
    assert seen.json()["routes"][0]["published_to"] == "wang-phone"
    assert client.get("/patrols?published_to=me", headers=other).json()["plans"] == []
    assert client.get("/patrols?published_to=you").status_code == 422
