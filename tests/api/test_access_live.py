"""Access against a real ``gridpatrol serve`` on the demo city: the breaks an attacker-style
test found (issue 16), each answered as the policy says.

- A plan is authorised by every unit it touches by right (patrollers' workers, starts and
  districts, the stops' districts, points and buildings); a worker code out of scope is
  refused exactly like one that does not exist.
- A plan belongs to its patrollers' and stops' units: a street path crossing a grid of another
  district gives that district's dispatcher nothing — no read, no map, no list, no track.
- Patrol routes are not public: tiles, OGC collection and items need ``read_patrols`` and show
  the plans of the account's units; the public collection list and tile index leave them out.
- ``X-Forwarded-For`` from loopback is not the client unless the operator says the peer is a
  proxy: the sign-in and intake limits hold and the access log shows the real peer.
- ``/static/vendor`` serves the map assets, not npm's metadata.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import mapbox_vector_tile
import pytest
from sqlalchemy import Engine

from tests import conftest
from tests.accounts import PASSWORD, account_headers
from tests.conftest import fresh_database
from tests.endpoints import INLAND, PATROL_TRACK
from tests.live import serve_process, server_env

# Grid 990101002003004 (of the community straddling the districts, owned by 990101) lies
# wholly in district 990102; these points lie west and east of it in 990102's own grids, so
# a patrol between them walks through a 990101 grid without any business there.
WEST = {"lon": 104.06398802, "lat": 30.66467918}  # in 990102001001001
EAST = {"lon": 104.07198802, "lat": 30.66467918}  # in 990102002001001
PASSED_GRID_PREFIX = "990101"
WORKER_990101 = "W-990101001001001"
WORKER_990102 = "W-990102001001001"
# Documentation addresses (RFC 5737): never a real client of the test server.
FORWARDED = "203.0.113."
BURST = 3


def _plan(patrollers: list[dict[str, Any]], stops: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "scope probe",
        "start_at": "2026-11-24T18:00:00+08:00",
        "time_limit_s": 0.2,
        "patrollers": patrollers,
        "stops": stops,
    }


def _patroller(name: str, start: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"name": name, "start": {"lon": start["lon"], "lat": start["lat"]}, **extra}


def _point(place: dict[str, float], label: str = "stop") -> dict[str, Any]:
    return {"lon": place["lon"], "lat": place["lat"], "label": label}


# The plan of issue 16: a 990101 dispatcher sends a 990102 worker (declared 990101) to 990102.
ACROSS = _plan(
    [_patroller("Zhou", INLAND, worker=WORKER_990102, district="990101")],
    {"points": [_point(EAST)]},
)
HOME = _plan([_patroller("Wang", INLAND)], {"points": [_point(INLAND, "gate")]})
PASSING = _plan([_patroller("Zhou", WEST, worker=WORKER_990102)], {"points": [_point(EAST)]})


@dataclass
class Live:
    base: str
    log: Path
    engine: Engine
    headers: dict[str, dict[str, str]]

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.base, timeout=60)


@pytest.fixture(scope="module")
def live(
    pg_server: conftest.TestServer, templates: dict[str, str], tmp_path_factory: Any
) -> Iterator[Live]:
    database = contextmanager(fresh_database)(pg_server, templates["demo"])
    with database as engine:
        headers = {
            "d1": account_headers(engine, "d1", "dispatcher", scope="990101"),
            "d2": account_headers(engine, "d2", "dispatcher", scope="990102"),
            "w2": account_headers(engine, "w2", "worker", worker=WORKER_990102),
            "analyst": account_headers(engine, "ana", "analyst"),
            "admin": account_headers(engine, "root", "admin"),
            "anonymous": {},
        }
        limits = {
            "GRIDPATROL_LOGIN_RATE_PER_MINUTE": "1",
            "GRIDPATROL_LOGIN_BURST": str(BURST),
            "GRIDPATROL_INTAKE_RATE_PER_MINUTE": "1",
            "GRIDPATROL_INTAKE_BURST": str(BURST),
        }
        log = tmp_path_factory.mktemp("serve") / "server.log"
        with serve_process(server_env(engine, **limits), log) as base:
            yield Live(base, log, engine, headers)


def _detail(response: httpx2.Response) -> str:
    return str(response.json()["detail"])


# ----------------------------------------------------------------------------- 1. plans
@pytest.mark.parametrize(
    ("plan", "named"),
    [
        (ACROSS, "patrollers[0].worker"),
        (_plan([_patroller("Wang", INLAND)], {"points": [_point(EAST)]}), "stops.points[0]"),
        (_plan([_patroller("Wang", EAST)], {"points": [_point(INLAND)]}), "patrollers[0].start"),
        (
            _plan([_patroller("Wang", INLAND, district="990102")], {"points": [_point(INLAND)]}),
            "patrollers[0].district",
        ),
        (
            _plan([_patroller("Wang", INLAND)], {"open_reports": True, "districts": ["990102"]}),
            "stops.districts",
        ),
        (
            _plan(
                [_patroller("Wang", INLAND, end={"lon": EAST["lon"], "lat": EAST["lat"]})],
                {"points": [_point(INLAND)]},
            ),
            "patrollers[0].end",
        ),
    ],
)
def test_a_plan_needs_every_unit_it_touches_in_scope(
    live: Live, plan: dict[str, Any], named: str
) -> None:
    with live.client() as http:
        refused = http.post("/patrols/plan", json=plan, headers=live.headers["d1"])
        assert refused.status_code == 403, refused.text
        assert named in _detail(refused)
        # The account reaching every unit of it plans it.
        assert (
            http.post("/patrols/plan", json=plan, headers=live.headers["admin"]).status_code == 201
        )


def _nearest(http: httpx2.Client, layer: str, place: dict[str, float]) -> str:
    """The code of a building or facility of a 990102 grid within ~500 m of ``place``."""
    d = 0.005
    box = f"{place['lon'] - d},{place['lat'] - d},{place['lon'] + d},{place['lat'] + d}"
    features = http.get(f"/{layer}", params={"bbox": box, "limit": 1000}).json()["features"]
    return next(
        str(f["properties"]["code"])
        for f in features
        if str(f["properties"]["grid_code"]).startswith("990102")
    )


def test_buildings_and_facilities_of_another_district_are_out_of_scope(live: Live) -> None:
    with live.client() as http:
        building = _nearest(http, "buildings", EAST)
        facility = _nearest(http, "facilities", EAST)
        plans = {
            "stops.buildings": _plan(
                [_patroller("Wang", INLAND)], {"buildings": [building], "points": []}
            ),
            "patrollers[0].start": _plan(
                [{"name": "Wang", "start": {"facility": facility}}], {"points": [_point(EAST)]}
            ),
        }
        for named, plan in plans.items():
            refused = http.post("/patrols/plan", json=plan, headers=live.headers["d1"])
            assert refused.status_code == 403, refused.text
            assert named in _detail(refused)
            planned = http.post("/patrols/plan", json=plan, headers=live.headers["admin"])
            assert planned.status_code == 201, planned.text


def test_a_plan_in_scope_is_planned(live: Live) -> None:
    with live.client() as http:
        home = http.post("/patrols/plan", json=HOME, headers=live.headers["d1"])
        assert home.status_code == 201, home.text
        theirs = http.post("/patrols/plan", json=PASSING, headers=live.headers["d2"])
        assert theirs.status_code == 201, theirs.text


def test_a_worker_out_of_scope_is_refused_as_one_that_does_not_exist(live: Live) -> None:
    answers = []
    with live.client() as http:
        for code in (WORKER_990102, "W-000000000000000"):
            plan = _plan([_patroller("Zhou", INLAND, worker=code)], {"points": [_point(INLAND)]})
            response = http.post("/patrols/plan", json=plan, headers=live.headers["d1"])
            answers.append((response.status_code, _detail(response).replace(code, "CODE")))
        own = _plan(
            [_patroller("Wang", INLAND, worker=WORKER_990101)], {"points": [_point(INLAND)]}
        )
        assert http.post("/patrols/plan", json=own, headers=live.headers["d1"]).status_code == 201
    assert answers[0][0] == 403
    assert answers[0] == answers[1]


# ----------------------------------------------------------------------------- 2. ownership
@pytest.fixture(scope="module")
def passing(live: Live) -> dict[str, Any]:
    """A 990102 plan whose street path crosses a grid coded 990101 (checked, not assumed)."""
    with live.client() as http:
        created = http.post("/patrols/plan", json=PASSING, headers=live.headers["admin"])
    assert created.status_code == 201, created.text
    plan: dict[str, Any] = created.json()
    grids = {g["code"] for route in plan["routes"] for g in route["grids"]}
    assert any(code.startswith(PASSED_GRID_PREFIX) for code in grids), grids
    stops = {s["grid_code"] for route in plan["routes"] for s in route["stops"]}
    assert not any(code.startswith(PASSED_GRID_PREFIX) for code in stops), stops
    return plan


def test_passing_through_is_not_ownership(live: Live, passing: dict[str, Any]) -> None:
    plan_id = passing["id"]
    with live.client() as http:
        for who, status in (("d1", 403), ("d2", 200), ("w2", 200)):
            shown = http.get(f"/patrols/{plan_id}", headers=live.headers[who])
            assert shown.status_code == status, (who, shown.text)
            page = http.get("/maps/patrols", params={"id": plan_id}, headers=live.headers[who])
            assert page.status_code == status, (who, page.text[:200])
            listed = http.get("/patrols", params={"limit": 1000}, headers=live.headers[who]).json()[
                "plans"
            ]
            assert (plan_id in {p["id"] for p in listed}) is (status == 200), who
        # Writing a track needs the patroller's unit: the worker walking it, their dispatcher.
        # Each a walk of its own: the same fixes again would be the track already stored.
        for hour, (who, status) in enumerate((("d1", 403), ("w2", 201), ("d2", 201))):
            track = http.post(
                f"/patrols/{plan_id}/track",
                json=_track(WEST, EAST, hour=18 + hour),
                headers=live.headers[who],
            )
            assert track.status_code == status, (who, track.text)


def test_a_track_lands_only_on_a_reached_patrollers_route(live: Live) -> None:
    """A joint plan of a 990101 and a 990102 patroller: each dispatcher may read it, but the
    990101 dispatcher may not write a track onto the 990102 patroller's route."""
    joint = _plan(
        [
            _patroller("Wang", INLAND, worker=WORKER_990101),
            _patroller("Zhou", WEST, worker=WORKER_990102),
        ],
        {
            "points": [_point(INLAND, "gate"), _point(EAST, "east")],
            "districts": ["990101", "990102"],
        },
    )
    with live.client() as http:
        created = http.post("/patrols/plan", json=joint, headers=live.headers["admin"])
        assert created.status_code == 201, created.text
        plan = created.json()
        seq = {r["patroller"]["worker"]: r["seq"] for r in plan["routes"]}
        assert http.get(f"/patrols/{plan['id']}", headers=live.headers["d1"]).status_code == 200
        theirs = http.post(
            f"/patrols/{plan['id']}/track",
            params={"route": seq[WORKER_990102]},
            json=_track(WEST, EAST),
            headers=live.headers["d1"],
        )
        assert theirs.status_code == 403, theirs.text
        own = http.post(
            f"/patrols/{plan['id']}/track",
            params={"route": seq[WORKER_990101]},
            json=PATROL_TRACK,
            headers=live.headers["d1"],
        )
        assert own.status_code == 201, own.text


def _track(start: dict[str, float], end: dict[str, float], *, hour: int = 18) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[start["lon"], start["lat"]], [end["lon"], end["lat"]]],
        },
        "properties": {
            "times": [f"2026-11-24T{hour}:00:00+08:00", f"2026-11-24T{hour}:10:00+08:00"]
        },
    }


# ----------------------------------------------------------------------------- 3. layers
def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """XYZ tile holding a point (the slippy-map formula, independent of the server's SQL)."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def _tile_plans(response: httpx2.Response) -> set[int]:
    if response.status_code == 204:
        return set()
    layers = mapbox_vector_tile.decode(response.content)
    return {int(f["properties"]["plan_id"]) for f in layers["patrol_routes"]["features"]}


def test_patrol_routes_are_not_public(live: Live, passing: dict[str, Any]) -> None:
    plan_id = passing["id"]
    z = 14
    x, y = _tile_of((WEST["lon"] + EAST["lon"]) / 2, WEST["lat"], z)
    tile = f"/tiles/patrol_routes/{z}/{x}/{y}.mvt"
    items = "/ogc/collections/patrol_routes/items"
    with live.client() as http:
        for who, status in (("anonymous", 401), ("analyst", 403)):
            headers = live.headers[who]
            for url in (tile, "/tiles/patrol_routes.json", "/ogc/collections/patrol_routes", items):
                assert http.get(url, headers=headers).status_code == status, (who, url)
            collections = http.get("/ogc/collections", headers=headers).json()["collections"]
            assert "patrol_routes" not in {c["id"] for c in collections}
            index = http.get("/tiles", headers=headers).json()["layers"]
            assert "patrol_routes" not in {layer["name"] for layer in index}
        # Allowed accounts see the routes of their units' plans only.
        for who, sees in (("d2", True), ("d1", False), ("admin", True)):
            drawn = http.get(tile, headers=live.headers[who])
            assert drawn.status_code in (200, 204), drawn.text
            assert (plan_id in _tile_plans(drawn)) is sees, who
            assert drawn.headers["cache-control"].startswith("private")
            assert "access-control-allow-origin" not in drawn.headers
            page = http.get(items, params={"limit": 1000}, headers=live.headers[who]).json()
            assert (plan_id in {f["properties"]["plan_id"] for f in page["features"]}) is sees
            route_id = _route_id(http, live.headers["admin"], plan_id)
            one = http.get(f"{items}/{route_id}", headers=live.headers[who])
            assert one.status_code == (200 if sees else 404), who


def _route_id(http: httpx2.Client, headers: dict[str, str], plan_id: int) -> int:
    page = http.get(
        "/ogc/collections/patrol_routes/items", params={"limit": 1000}, headers=headers
    ).json()
    return next(int(f["id"]) for f in page["features"] if f["properties"]["plan_id"] == plan_id)


# ----------------------------------------------------------------------------- 4. proxies
def _forwarded_attempts(base: str) -> list[int]:
    """Wrong passwords and anonymous reports, each from a new ``X-Forwarded-For``."""
    statuses = []
    with httpx2.Client(base_url=base, timeout=60) as http:
        for i in range(BURST + 3):
            statuses.append(
                http.post(
                    "/auth/token",
                    data={"username": "d1", "password": "wrong password"},
                    headers={"X-Forwarded-For": f"{FORWARDED}{i + 1}"},
                ).status_code
            )
        for i in range(BURST + 3):
            body = {"category": "sanitation", "description": "forwarded", **INLAND}
            statuses.append(
                http.post(
                    "/reports", json=body, headers={"X-Forwarded-For": f"{FORWARDED}{i + 100}"}
                ).status_code
            )
    return statuses


def test_forwarded_headers_from_loopback_are_not_trusted(live: Live) -> None:
    statuses = _forwarded_attempts(live.base)
    logins, reports = statuses[: BURST + 3], statuses[BURST + 3 :]
    assert logins[:BURST] == [401] * BURST and 429 in logins[BURST:], logins
    assert reports[:BURST] == [201] * BURST and 429 in reports[BURST:], reports
    log = live.log.read_text()
    assert FORWARDED not in log
    assert "127.0.0.1:" in log and '"POST /auth/token HTTP/1.1" 429' in log


def test_a_configured_proxy_is_trusted(
    pg_server: conftest.TestServer, templates: dict[str, str], tmp_path: Path
) -> None:
    """The control: with the peer named in ``GRIDPATROL_TRUSTED_PROXIES`` each forwarded
    address is a client of its own, in the limits and in the log."""
    database = contextmanager(fresh_database)(pg_server, templates["demo"])
    with database as engine:
        account_headers(engine, "d1", "dispatcher", scope="990101", password=PASSWORD)
        env = server_env(
            engine,
            GRIDPATROL_TRUSTED_PROXIES="127.0.0.1",
            GRIDPATROL_LOGIN_RATE_PER_MINUTE="1",
            GRIDPATROL_LOGIN_BURST=str(BURST),
            GRIDPATROL_INTAKE_RATE_PER_MINUTE="1",
            GRIDPATROL_INTAKE_BURST=str(BURST),
        )
        log = tmp_path / "server.log"
        with serve_process(env, log) as base:
            statuses = _forwarded_attempts(base)
        assert statuses == [401] * (BURST + 3) + [201] * (BURST + 3)
        assert f"{FORWARDED}1:" in log.read_text()


# ----------------------------------------------------------------------------- vendor
def test_static_vendor_serves_assets_not_npm_metadata(live: Live) -> None:
    with live.client() as http:
        assert http.get("/static/vendor/leaflet/dist/leaflet.js").status_code == 200
        assert http.get("/static/vendor/leaflet/dist/leaflet.css").status_code == 200
        for path in (
            "leaflet/package.json",
            ".package-lock.json",
            "jquery/package.json",
            ".gridpatrol-installed",
            "leaflet/README.md",
        ):
            response = http.get(f"/static/vendor/{path}")
            assert response.status_code == 404, path
