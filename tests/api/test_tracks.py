"""GPS tracks and patrol coverage through the API on the demo city: a track is stored once
per content, stops are passed at their point on the street, coverage from the plans' routes,
the track route's own streaming body limit, and bad tracks refused with nothing stored.

Expected metres come from shapely in UTM (pyproj), never from the code under test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from sqlalchemy import Engine, text

from api.main import create_app
from gis.patrols.tracks import SIMPLIFY_TOLERANCE_M
from tests.accounts import account_headers
from tests.conftest import settings_for

START_AT = "2026-11-24T18:00:00+08:00"
PLAN = {
    "name": "tracks",
    "start_at": START_AT,
    "mode": "joint",
    "compare": True,
    "walk_speed_kmh": 4.5,
    "service_minutes": 5,
    "time_limit_s": 1,
    "patrollers": [
        {"name": "Wang", "start": {"lon": 104.05, "lat": 30.66}, "shift_minutes": 240},
        {"name": "Li", "start": {"facility": "FAC-000005"}, "shift_minutes": 120},
    ],
    "stops": {
        # Grid centres: many stand well off the street.
        "hot_grids": {"confidence": 95, "dwell_minutes": 12, "fdr": False},
        "facilities": ["checkpoint"],
        "points": [
            {"lon": 104.06, "lat": 30.66, "label": "market gate", "service_minutes": 10},
            # A courtyard ~50 m behind the street (found with ST_Distance to routing_edges).
            {"lon": 104.0505, "lat": 30.6605, "label": "courtyard", "service_minutes": 5},
        ],
    },
}
_TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
_GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def planned(
    pg_server: Any, templates: dict[str, str]
) -> Iterator[tuple[TestClient, Engine, dict[str, Any]]]:
    """A demo database of this module's own with one plan stored."""
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        admin = account_headers(engine, "tracks-admin", "admin")
        app = create_app(settings_for(engine), engine=engine)
        with TestClient(app, headers=admin) as client:
            response = client.post("/patrols/plan", json=PLAN)
            assert response.status_code == 201, response.text
            yield client, engine, response.json()


def _project(coords: Any) -> Any:
    x, y = _TO_UTM.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _walk(coords: list[list[float]], start: datetime) -> list[tuple[float, float, datetime]]:
    """The line walked at 1.25 m/s, one fix per vertex, whole seconds (as GPX keeps them)."""
    fixes, t = [], start
    for k, (lon, lat) in enumerate(coords):
        if k:
            _, _, step = _GEOD.inv(coords[k - 1][0], coords[k - 1][1], lon, lat)
            t = t + timedelta(seconds=max(1, round(step / 1.25)))
        fixes.append((lon, lat, t))
    return fixes


def _gpx(fixes: list[tuple[float, float, datetime]]) -> bytes:
    points = "".join(
        f'<trkpt lat="{lat!r}" lon="{lon!r}"><time>{t.isoformat()}</time></trkpt>'
        for lon, lat, t in fixes
    )
    return f'<gpx version="1.1"><trk><trkseg>{points}</trkseg></trk></gpx>'.encode()


def _geojson(fixes: list[tuple[float, float, datetime]]) -> bytes:
    return json.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[x, y] for x, y, _ in fixes]},
            "properties": {"times": [t.isoformat() for *_, t in fixes]},
        }
    ).encode()


def _line(coords: list[list[float]]) -> shapely.LineString:
    x, y = _TO_UTM.transform([c[0] for c in coords], [c[1] for c in coords])
    return shapely.LineString(list(zip(x, y, strict=True)))


def _point(lon: float, lat: float) -> shapely.Point:
    x, y = _TO_UTM.transform(lon, lat)
    return shapely.Point(x, y)


def _route(plan: dict[str, Any]) -> dict[str, Any]:
    return max(plan["routes"], key=lambda r: len(r["stops"]))


def _walked(client: TestClient, since: datetime, until: datetime) -> dict[str, float]:
    answer = client.get(
        "/patrols/coverage",
        params={"since": since.isoformat(), "until": until.isoformat(), "limit": 1000},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == "walked"
    return {g["grid_code"]: g["walked_m"] for g in answer.json()["grids"] if g["walked_m"]}


def test_the_same_track_twice_is_stored_once(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, engine, plan = planned
    route = _route(plan)
    start = datetime.fromisoformat(START_AT) + timedelta(days=3)
    fixes = _walk(route["geometry"]["coordinates"], start)
    window = (start - timedelta(hours=1), fixes[-1][2] + timedelta(hours=1))
    before = _count(engine, "patrol_tracks"), _count(engine, "patrol_track_grids")
    first = client.post(f"/patrols/{plan['id']}/track", content=_gpx(fixes))
    assert first.status_code == 201, first.text
    assert first.json()["already_stored"] is False
    once = _walked(client, *window)
    assert once
    # The same GPX again, and the same fixes as GeoJSON: the stored track, nothing added.
    for body in (_gpx(fixes), _geojson(fixes)):
        again = client.post(f"/patrols/{plan['id']}/track", content=body)
        assert again.status_code == 200, again.text
        assert again.json()["already_stored"] is True
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["grids"] == first.json()["grids"]
    assert (_count(engine, "patrol_tracks"), _count(engine, "patrol_track_grids")) == (
        before[0] + 1,
        before[1] + len(first.json()["grids"]),
    )
    assert _walked(client, *window) == once
    # One fix a second later is another walk.
    other = [(x, y, t + timedelta(seconds=1)) for x, y, t in fixes]
    assert client.post(f"/patrols/{plan['id']}/track", content=_gpx(other)).status_code == 201


def test_a_stop_is_passed_at_its_point_on_the_street(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, _, plan = planned
    route = next(
        r
        for r in plan["routes"]
        if any(abs(s["lon"] - 104.0505) + abs(s["lat"] - 30.6605) < 1e-6 for s in r["stops"])
    )
    coords = route["geometry"]["coordinates"]
    line = _line(coords)
    radius = 30.0
    # Independent: the stops' own distance from the walked line; some stand beyond the radius
    # (the old rule missed them), yet the walk passes each one's point on the street.
    own = {s["id"]: line.distance(_point(s["lon"], s["lat"])) for s in route["stops"]}
    assert max(own.values()) > radius + SIMPLIFY_TOLERANCE_M
    start = datetime.fromisoformat(START_AT) + timedelta(days=5)
    whole = client.post(
        f"/patrols/{plan['id']}/track",
        params={"route": route["seq"], "radius_m": radius},
        content=_gpx(_walk(coords, start)),
    )
    assert whole.status_code == 201, whole.text
    assert whole.json()["stops_missed"] == []
    assert {s["stop_id"] for s in whole.json()["stops_passed"]} == set(own)
    # The first half of the route only: a stop is passed exactly when its street point (the
    # nearest point of the route line, shapely) lies within the radius of the half walked.
    half_coords = coords[: len(coords) // 2]
    half_line = _line(half_coords)
    half = client.post(
        f"/patrols/{plan['id']}/track",
        params={"route": route["seq"], "radius_m": radius},
        content=_gpx(_walk(half_coords, start + timedelta(days=1))),
    ).json()
    passed = {s["stop_id"] for s in half["stops_passed"]}
    checked = 0
    for stop in route["stops"]:
        street = line.interpolate(line.project(_point(stop["lon"], stop["lat"])))
        distance = half_line.distance(street)
        if abs(distance - radius) > SIMPLIFY_TOLERANCE_M:
            assert (stop["id"] in passed) == (distance <= radius), (stop, distance)
            checked += 1
    assert half["stops_missed"] and passed and checked >= len(route["stops"]) - 2


def test_planned_coverage_follows_the_routes(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, engine, plan = planned
    since = datetime.fromisoformat(START_AT) - timedelta(hours=1)
    until = since + timedelta(days=1)
    params: dict[str, str | int] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "limit": 1000,
    }
    answer = client.get("/patrols/coverage", params=params | {"source": "planned"})
    assert answer.status_code == 200, answer.text
    coverage = answer.json()
    assert coverage["source"] == "planned"
    by_code = {g["grid_code"]: g for g in coverage["grids"]}
    with engine.connect() as conn:
        polygons = {
            code: shapely.transform(shapely.from_wkb(bytes(wkb)), _project)
            for code, wkb in conn.execute(text("SELECT code, ST_AsBinary(geom) FROM grids"))
        }
    # The chosen plan's routes only (its compared other-mode plan is not walked).
    lines = [_line(r["geometry"]["coordinates"]) for r in plan["routes"] if r["geometry"]]
    for code, polygon in polygons.items():
        expected = sum(line.intersection(polygon).length for line in lines)
        routes = sum(1 for line in lines if line.intersection(polygon).length > 0.5)
        grid = by_code[code]
        assert grid["walked_m"] == pytest.approx(expected, rel=0.01, abs=1.0), code
        assert grid["minutes"] == pytest.approx(expected / 75.0, rel=0.01, abs=0.1)
        if expected > 1.0:
            assert not grid["stale"] and grid["tracks"] == routes
        elif expected == 0:
            assert grid["stale"]
    # Nothing planned in the week before; the default source is the tracks walked.
    earlier = {"since": (since - timedelta(days=7)).isoformat(), "until": since.isoformat()}
    assert (
        client.get(
            "/patrols/coverage", params=earlier | {"source": "planned", "stale": "false"}
        ).json()["numberMatched"]
        == 0
    )
    bad = client.get("/patrols/coverage", params={"source": "dreamed"})
    assert bad.status_code == 422 and "source" in bad.text


def test_the_track_route_has_its_own_streaming_body_limit(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    _, engine, plan = planned
    admin = account_headers(engine, "limits-admin", "admin")
    settings = settings_for(engine, max_body_bytes=1024, max_track_bytes=4096)
    before = _count(engine, "patrol_tracks")
    body = b"<gpx>" + b" " * 3000 + b"</gpx>"
    with TestClient(create_app(settings, engine=engine), headers=admin) as client:
        # Above the global limit, within the track route's own: read, then refused for what
        # it holds.
        track = client.post(f"/patrols/{plan['id']}/track", content=body)
        assert track.status_code == 422 and "no track points" in track.json()["detail"]
        assert client.post("/patrols/plan", content=body).status_code == 413
        big = b"<gpx>" + b" " * 5000 + b"</gpx>"
        declared = client.post(f"/patrols/{plan['id']}/track", content=big)
        assert declared.status_code == 413 and "4096" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield from (big[k : k + 1000] for k in range(0, len(big), 1000))

        streamed = client.post(f"/patrols/{plan['id']}/track", content=chunks())
        assert streamed.status_code == 413
    assert _count(engine, "patrol_tracks") == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
        (
            b'{"type":"Feature","geometry":{"type":"LineString","coordinates":'
            b'[[104.05,30.66],[104.05,95]]},"properties":{"times":[1795000000,1795000060]}}',
            "is not a longitude/latitude",
        ),
        (
            b'{"type":"Feature","geometry":{"type":"LineString","coordinates":'
            b'[[104.05,30.66],[104.051,30.661]]},"properties":{"times":[1e300,1795000060]}}',
            "not between 1990 and 2100",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><gpx></gpx>',
            "DOCTYPE or ENTITY",
        ),
    ],
    ids=["deep-json", "latitude-95", "time-1e300", "entity"],
)
def test_bad_tracks_are_refused_and_store_nothing(
    planned: tuple[TestClient, Engine, dict[str, Any]], body: bytes, expected: str
) -> None:
    client, engine, plan = planned
    before = _count(engine, "patrol_tracks"), _count(engine, "patrol_track_grids")
    # Sent as bytes: the track parser itself must refuse them (whatever the content type).
    response = client.post(
        f"/patrols/{plan['id']}/track",
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"]
    assert (_count(engine, "patrol_tracks"), _count(engine, "patrol_track_grids")) == before


def test_the_grids_map_colours_planned_or_walked_coverage(
    planned: tuple[TestClient, Engine, dict[str, Any]],
) -> None:
    client, _, _ = planned
    window = {
        "patrol_coverage": "true",
        "patrol_since": "2026-11-24T00:00:00+08:00",
        "patrol_until": "2026-11-25T00:00:00+08:00",
    }
    for source in ("planned", "walked"):
        page = client.get("/maps/grids", params=window | {"patrol_source": source})
        assert page.status_code == 200, page.text
        assert f"patrol coverage ({source}, 2026-11-24 00:00" in page.text
    assert client.get("/maps/grids", params=window | {"patrol_source": "x"}).status_code == 422
