"""The one policy, applied to every endpoint: each route declares its permission, and a matrix
generated from ``POLICY`` (every endpoint × every role × in/out of scope) gets the status the
policy says, with real accounts in a real database. No anonymous or out-of-scope answer —
GET or POST, JSON or map page, Open311, events, CLI exports — holds planted personal data."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from typer.testing import CliRunner

from api.auth import require, route_permissions
from api.main import create_app
from api.pages.docs import REDOC_JS_PATH
from cli.main import app as cli_app
from gis.access.policy import (
    POLICY,
    TRANSITION_REPORT,
    Permission,
    Role,
    expected_outcome,
)
from gis.core.settings import Settings
from gis.reports.followup import issue_followup
from tests import conftest
from tests.accounts import PASSWORD, account_headers, page_csrf_token
from tests.conftest import TEST_SECRET_KEY, fresh_database, settings_for
from tests.endpoints import (
    INLAND,
    LAYER_VALUES,
    PATROL_PLAN,
    PLANTED_CONTACT,
    PLANTED_DESCRIPTION,
    PLANTED_HOUSEHOLD,
    PLANTED_VISIT_NOTE,
    PLANTED_WORKER,
    SAMPLE_CALLS,
    SAMPLE_PHOTO,
    leaks,
)

TRANSITIONS = ("POST", "/reports/{report_id}/transitions")
# The dispatch desk's action form: gated by ``report.dispatch``, it accepts a fresh report.
DESK_ACTION = ("POST", "/app/dispatch/reports/{report_id}")
# The leader's page publishes a plan once: it gets a fresh one when it is allowed to.
PAGE_PUBLISH = ("POST", "/app/patrols/{plan_id}/publish")
# A track is stored once per content (the same upload again answers 200): each role's call
# starts from a plan without tracks, so an allowed upload stores anew (201).
TRACK = ("POST", "/patrols/{plan_id}/track")
# FastAPI's own pages and the static map assets: not API operations, public by nature.
NOT_OPERATIONS = {"/openapi.json", "/docs", "/redoc", REDOC_JS_PATH}
STATUS = {"unauthorized": 401, "forbidden": 403}
# A report's photos do not exist for an account whose scope does not reach it: 404, not 403.
HIDDEN_OUT_OF_SCOPE = {
    ("GET", "/reports/{report_id}/photos"),
    ("GET", "/reports/{report_id}/photos/{photo_id}"),
}


def undeclared_routes(app: FastAPI) -> list[str]:
    """Every route of ``app`` that is neither an operation declaring exactly one permission
    of ``POLICY`` nor one of FastAPI's documentation pages or a static-asset mount."""
    problems = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, APIRoute):
            declared = route_permissions_of(app).get(path or "", {})
            for method in sorted(route.methods or ()):
                found = declared.get(method, ())
                if len(found) != 1 or found[0] not in POLICY:
                    problems.append(f"{method} {path}: declares {list(found)}")
        elif not _exempt(route, path):
            problems.append(f"{type(route).__name__} {path}: not an API route with a permission")
    return problems


def _exempt(route: object, path: str | None) -> bool:
    static = isinstance(route, Mount) and (path or "").startswith("/static/")
    return static or (isinstance(route, Route) and path in NOT_OPERATIONS)


def route_permissions_of(app: FastAPI) -> dict[str, dict[str, tuple[str, ...]]]:
    by_path: dict[str, dict[str, tuple[str, ...]]] = {}
    for (method, path), permissions in route_permissions(app).items():
        by_path.setdefault(path, {})[method] = permissions
    return by_path


@dataclass
class World:
    """A demo city with a planted report (dispatched to a planted worker) and an account of
    every role in and out of the report's scope."""

    client: TestClient
    engine: Engine
    report: dict[str, Any]
    headers: dict[tuple[Role, bool], dict[str, str]]
    accounts: dict[tuple[Role, bool], str]
    plan_id: int
    household: str
    # The planted report's follow-up link (the resident's page).
    token: str
    # The planted worker's code and a service station of the report's district (the patrol
    # leader's page plans from them).
    worker: str
    station: str
    # A photo of the planted report.
    photo_id: int

    def values(self, role: Role, in_scope: bool, **extra: Any) -> dict[str, Any]:
        account = self.accounts.get((role, in_scope), self.accounts[(Role.ANALYST, True)])
        return (
            {
                "code": self.report["location"]["grid_code"],
                "report_id": self.report["id"],
                "service_request_id": str(self.report["id"]),
                "service_code": "sanitation",
                "plan_id": self.plan_id,
                "household": self.household,
                "feature_id": self.report["location"]["grid_code"],
                "account": account,
                "password": PASSWORD,
                "csrf_token": "",
                "token": self.token,
                "worker": self.worker,
                "station": self.station,
                "photo_id": self.photo_id,
            }
            | LAYER_VALUES
            | extra
        )

    def call(
        self, key: tuple[str, str], role: Role, in_scope: bool, **extra: Any
    ) -> tuple[str, Any]:
        # Each call is one role's alone: no cookie kept from an earlier sign-in.
        self.client.cookies.clear()
        if SAMPLE_CALLS[key].needs_csrf:
            extra["csrf_token"] = page_csrf_token(self.client)
        method, url, kwargs = SAMPLE_CALLS[key].request(self.values(role, in_scope, **extra))
        response = self.client.request(
            method, url, headers=self.headers[(role, in_scope)], **kwargs
        )
        return url, response

    def forget_tracks(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM patrol_tracks WHERE plan_id = :p"), {"p": self.plan_id})

    def new_plan(self) -> int:
        """A plan of the planted worker no one has published (the page publishes once)."""
        walked = {
            **PATROL_PLAN,
            "patrollers": [{**PATROL_PLAN["patrollers"][0], "worker": self.worker}],
        }
        planned = self.client.post(
            "/patrols/plan", json=walked, headers=self.headers[(Role.DISPATCHER, True)]
        )
        assert planned.status_code == 201, planned.text
        return int(planned.json()["id"])

    def new_report(self) -> int:
        body = {"category": "sanitation", "description": "a new one", **INLAND}
        response = self.client.post("/reports", json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def _other_district(engine: Engine, district: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT min(code) FROM districts WHERE code <> :d"), {"d": district}
            ).scalar_one()
        )


def _plant_worker(engine: Engine, grid: str) -> tuple[int, str]:
    """A worker serving ``grid`` and only grids of its district, renamed to the planted one."""
    with engine.begin() as conn:
        worker_id, code = conn.execute(
            text(
                """
                SELECT w.id, w.code FROM workers w JOIN worker_grids wg ON wg.worker_id = w.id
                GROUP BY w.id
                HAVING bool_or(wg.grid_code = :grid)
                   AND bool_and(left(wg.grid_code, 6) = left(:grid, 6))
                ORDER BY w.id LIMIT 1
                """
            ),
            {"grid": grid},
        ).one()
        conn.execute(
            text("UPDATE workers SET name = :name, phone = :phone WHERE id = :id"),
            {**PLANTED_WORKER, "id": worker_id},
        )
    return int(worker_id), str(code)


PLANTED_HOUSEHOLD_CODE = "H-PLANTED-0001"


def _plant_household(engine: Engine, grid: str) -> str:
    """An overdue elderly household in a building of ``grid``, with a planted name, phone and
    a visit note (a ``not_home`` visit: it stays overdue)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO households (code, building_id, unit, head_name, phone, members, care)
                SELECT :code, id, '101', :head_name, :phone, 1, ARRAY['elderly_alone']
                FROM buildings WHERE grid_code = :grid ORDER BY code LIMIT 1
                """
            ),
            {"code": PLANTED_HOUSEHOLD_CODE, "grid": grid, **PLANTED_HOUSEHOLD},
        )
        conn.execute(
            text(
                """
                INSERT INTO household_visits (household_id, visited_at, worker, outcome, note)
                SELECT id, now() - interval '1 day', 'W-test', 'not_home', :note
                FROM households WHERE code = :code
                """
            ),
            {"code": PLANTED_HOUSEHOLD_CODE, "note": PLANTED_VISIT_NOTE},
        )
    return PLANTED_HOUSEHOLD_CODE


@pytest.fixture(scope="module")
def world(pg_server: conftest.TestServer, templates: dict[str, str]) -> Iterator[World]:
    database = contextmanager(fresh_database)(pg_server, templates["demo"])
    with database as engine, TestClient(create_app(settings_for(engine), engine=engine)) as client:
        created = client.post(
            "/reports",
            json={"category": "sanitation", "description": PLANTED_DESCRIPTION, **INLAND}
            | PLANTED_CONTACT,
        )
        assert created.status_code == 201, created.text
        report = created.json()
        grid = report["location"]["grid_code"]
        district = report["location"]["district_code"]
        other = _other_district(engine, district)
        worker_id, worker_code = _plant_worker(engine, grid)
        household = _plant_household(engine, grid)
        with engine.connect() as conn:
            other_grid = conn.execute(
                text("SELECT min(code) FROM grids WHERE code LIKE :d || '%'"), {"d": other}
            ).scalar_one()
        scopes: dict[tuple[Role, bool], dict[str, Any]] = {
            (Role.WORKER, True): {"worker": worker_code},
            (Role.WORKER, False): {"scope": other_grid},
            (Role.DISPATCHER, True): {"scope": district},
            (Role.DISPATCHER, False): {"scope": other},
            (Role.ADMIN, True): {"scope": district},
            (Role.ADMIN, False): {"scope": other},
            (Role.ANALYST, True): {},
            (Role.ANALYST, False): {},
        }
        headers: dict[tuple[Role, bool], dict[str, str]] = {
            (Role.ANONYMOUS, True): {},
            (Role.ANONYMOUS, False): {},
        }
        accounts = {}
        for (role, inside), where in scopes.items():
            name = f"{role}-{'in' if inside else 'out'}"
            headers[(role, inside)] = account_headers(engine, name, role, **where)
            accounts[(role, inside)] = name
        dispatcher = headers[(Role.DISPATCHER, True)]
        for step in ({"action": "accept"}, {"action": "dispatch", "worker_id": worker_id}):
            moved = client.post(
                f"/reports/{report['id']}/transitions", json=step, headers=dispatcher
            )
            assert moved.status_code == 200, moved.text
        report = moved.json()
        assert report["worker"]["name"] == PLANTED_WORKER["name"]
        # A patrol plan in the report's district and grid, walked by the planted worker (whose
        # own account then records its track).
        walked = {
            **PATROL_PLAN,
            "patrollers": [{**PATROL_PLAN["patrollers"][0], "worker": worker_code}],
        }
        planned = client.post("/patrols/plan", json=walked, headers=dispatcher)
        assert planned.status_code == 201, planned.text
        assert grid in {g["code"] for r in planned.json()["routes"] for g in r["grids"]}
        with engine.begin() as conn:
            token = issue_followup(conn, int(report["id"]))
        plan_id = int(planned.json()["id"])
        with engine.connect() as conn:
            station = conn.execute(
                text(
                    "SELECT min(code) FROM facilities "
                    "WHERE kind = 'service_station' AND grid_code LIKE :d || '%'"
                ),
                {"d": district},
            ).scalar_one()
        photographed = client.post(
            f"/reports/{report['id']}/photos", files=[SAMPLE_PHOTO], headers=dispatcher
        )
        assert photographed.status_code == 201, photographed.text
        photo_id = int(photographed.json()[0]["id"])
        yield World(
            client,
            engine,
            report,
            headers,
            accounts,
            plan_id,
            household,
            token,
            worker_code,
            station,
            photo_id,
        )


def test_every_route_declares_exactly_one_permission(world: World) -> None:
    app: FastAPI = world.client.app  # type: ignore[assignment]
    assert undeclared_routes(app) == []
    assert set(route_permissions(app)) == set(SAMPLE_CALLS)
    spec = world.client.get("/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert documented == set(SAMPLE_CALLS)
    assert "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]


def test_a_route_without_a_permission_fails_the_walk() -> None:
    """The walk above can fail: a route added without ``require`` is named, nested or not."""
    app = create_app(Settings(tile_url="", secret_key=TEST_SECRET_KEY))
    patrols = APIRouter(prefix="/probe")

    @patrols.get("/coverage")
    def coverage() -> list[str]:
        return []

    @patrols.post("/plan", dependencies=[require(Permission.PLAN_PATROLS)])
    def plan() -> list[str]:
        return []

    app.include_router(patrols)

    @app.get("/probe-tiles/{z}")
    def tiles(z: int) -> list[int]:
        return [z]

    app.add_route("/plain", lambda request: PlainTextResponse("hi"))
    assert undeclared_routes(app) == [
        "GET /probe/coverage: declares []",
        "GET /probe-tiles/{z}: declares []",
        "Route /plain: not an API route with a permission",
    ]


def test_every_endpoint_role_and_scope_gets_the_policy_status(world: World) -> None:
    """The matrix: for each operation, its one permission; for each role in and out of the
    report's scope, ``expected_outcome`` says 200/201, 401 or 403, and that is the answer.
    A list (``require(..., lists=True)``) answers an account out of scope with what its scope
    reaches, so there scope does not change the status."""
    permissions = route_permissions(world.client.app)  # type: ignore[arg-type]
    lists = route_permissions(world.client.app, lists=True)  # type: ignore[arg-type]
    assert ("GET", "/patrols") in lists
    wrong = []
    cells = 0
    for key, role, in_scope in itertools.product(SAMPLE_CALLS, Role, (True, False)):
        (permission,) = permissions[key]
        expected = expected_outcome(role, permission, in_scope=in_scope or key in lists)
        extra: dict[str, Any] = {}
        if key == TRANSITIONS:
            # The gate, then the action's own permission; a fresh report each time.
            assert permission == TRANSITION_REPORT
            if expected == "allow":
                expected = expected_outcome(role, Permission.REPORT_ACCEPT, in_scope=in_scope)
            extra["report_id"] = world.new_report()
        if key == DESK_ACTION:
            extra["report_id"] = world.new_report()
        if key == PAGE_PUBLISH and expected == "allow":
            extra["plan_id"] = world.new_plan()
        if key == TRACK:
            world.forget_tracks()
        url, response = world.call(key, role, in_scope, **extra)
        want = SAMPLE_CALLS[key].success if expected == "allow" else STATUS[expected]
        if key in HIDDEN_OUT_OF_SCOPE and expected == "forbidden" and not in_scope:
            allowed_in_scope = expected_outcome(role, permission, in_scope=True) == "allow"
            want = 404 if allowed_in_scope else want
        if response.status_code != want:
            wrong.append(f"{role} {'in' if in_scope else 'out'} {key}: {response.status_code}")
        elif want == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        cells += 1
    assert wrong == []
    assert cells == len(SAMPLE_CALLS) * len(Role) * 2


def test_a_dead_token_is_401_on_every_endpoint(world: World) -> None:
    """A bearer token that is sent but not valid is refused everywhere, public reads included
    (tiles too, whose route skips FastAPI's handler): a client learns its token is dead."""
    wrong = []
    for key, call in SAMPLE_CALLS.items():
        method, url, kwargs = call.request(world.values(Role.ANALYST, True))
        world.client.cookies.clear()
        response = world.client.request(
            method, url, headers={"Authorization": "Bearer not-a-token"}, **kwargs
        )
        if response.status_code != 401 or response.headers.get("www-authenticate") != "Bearer":
            wrong.append(f"{key}: {response.status_code}")
    assert wrong == []


# Who may not see the planted report's personal data.
BLIND = [
    (Role.ANONYMOUS, True),
    (Role.ANALYST, True),
    (Role.WORKER, False),
    (Role.DISPATCHER, False),
    (Role.ADMIN, False),
]
# Besides the sample calls: lists without a grid filter and the map around the report.
MORE_GETS = [
    "/workers",
    "/households?limit=1000",
    "/households?due=overdue&care=elderly_alone&limit=1000",
    "/analytics/visits?level=grid",
    "/reports?limit=1000",
    "/reports?status=dispatched&limit=1000",
    "/open311/v2/requests.json?status=open",
]


def test_no_blind_response_holds_planted_personal_data(world: World) -> None:
    """Every operation (GET and POST, JSON and HTML) as anonymous, analyst and out-of-scope
    accounts: no reporter name, phone or photo URL, no worker name or phone."""
    checked = 0
    for (role, in_scope), key in itertools.product(BLIND, SAMPLE_CALLS):
        url, response = world.call(key, role, in_scope)
        assert response.status_code < 500, (url, response.text[:200])
        assert leaks(response.text) == [], (role, in_scope, url)
        checked += 1
    for (role, in_scope), url in itertools.product(BLIND, MORE_GETS):
        response = world.client.get(url, headers=world.headers[(role, in_scope)])
        assert response.status_code in (200, 401, 403), (url, response.text[:200])
        assert leaks(response.text) == [], (role, in_scope, url)
        checked += 1
    assert checked == len(BLIND) * (len(SAMPLE_CALLS) + len(MORE_GETS))


def test_accounts_in_scope_do_see_it(world: World) -> None:
    """The control: the planted values are there for those the policy lets see them, and the
    planted report is drawn on the map and listed in Open311 (without them)."""
    rid = world.report["id"]
    # The served map draws open reports from tiles: the report is in the tile, without contact.
    z, x, y = LAYER_VALUES["z"], LAYER_VALUES["x"], LAYER_VALUES["y"]
    tile = world.client.get(f"/tiles/open_reports/{z}/{x}/{y}.mvt")
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content)["open_reports"]["features"]
    drawn = next(f["properties"] for f in features if f["properties"]["id"] == rid)
    assert drawn["status"] == "dispatched" and leaks(str(drawn)) == []
    _, listed = world.call(("GET", "/open311/v2/requests.json"), Role.ANONYMOUS, True)
    assert PLANTED_DESCRIPTION in listed.text
    for role in (Role.WORKER, Role.DISPATCHER, Role.ADMIN):
        headers = world.headers[(role, True)]
        shown = world.client.get(f"/reports/{rid}", headers=headers).text
        assert set(leaks(shown)) == {*PLANTED_CONTACT.values(), PLANTED_WORKER["name"]}, role
    staff = world.client.get(
        "/workers",
        params={"grid": world.report["location"]["grid_code"]},
        headers=world.headers[(Role.DISPATCHER, True)],
    ).json()
    assert {"name": PLANTED_WORKER["name"], "phone": PLANTED_WORKER["phone"]}.items() <= next(
        w for w in staff if w["name"] == PLANTED_WORKER["name"]
    ).items()
    # Households: the planted one, with its head's name, phone and visit note, in scope.
    for role in (Role.WORKER, Role.DISPATCHER, Role.ADMIN):
        headers = world.headers[(role, True)]
        listed = world.client.get(
            "/households", params={"due": "overdue", "limit": 1000}, headers=headers
        )
        assert listed.status_code == 200, listed.text
        assert set(leaks(listed.text)) == set(PLANTED_HOUSEHOLD.values()), role
        shown = world.client.get(f"/households/{world.household}/visits", headers=headers).text
        assert leaks(shown) == [PLANTED_VISIT_NOTE], role
    # A dispatcher's directory keeps to its district.
    everyone = world.client.get("/workers", headers=world.headers[(Role.DISPATCHER, False)]).json()
    district = world.report["location"]["district_code"]
    assert everyone and not any(g.startswith(district) for w in everyone for g in w["grids"])


def test_cli_exports_hold_no_planted_personal_data(
    world: World, tmp_path: Path, use_database: Any
) -> None:
    use_database(world.engine)
    runner = CliRunner()
    for kind in ("grids", "hotspots", "coverage"):
        out = tmp_path / f"{kind}.html"
        result = runner.invoke(cli_app, ["map", kind, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert leaks(out.read_text()) == [], kind
    result = runner.invoke(cli_app, ["hotspots", "--unit", "grid", "--json"])
    assert result.exit_code == 0 and leaks(result.stdout) == []


def _patrol_route_id(world: World) -> int:
    page = world.client.get(
        "/ogc/collections/patrol_routes/items",
        params={"limit": 1000},
        headers=world.headers[(Role.ADMIN, True)],
    ).json()
    return next(
        int(f["id"]) for f in page["features"] if f["properties"]["plan_id"] == world.plan_id
    )


def test_patrol_layers_by_role_and_scope(world: World) -> None:
    """Patrol routes as tiles, TileJSON, OGC collection, items and one item, and the patrol
    map, for every role in and out of the plan's scope: ``read_patrols`` decides. Layers and
    item lists answer an account out of scope without the plan's route; one item out of scope
    is not there (404); the map is refused (403)."""
    z, x, y = LAYER_VALUES["z"], LAYER_VALUES["x"], LAYER_VALUES["y"]
    route_id = _patrol_route_id(world)
    items = "/ogc/collections/patrol_routes/items"
    # url -> (answer when out of scope, how to see whether the world's plan is in it)
    calls: dict[str, tuple[int, Any]] = {
        f"/tiles/patrol_routes/{z}/{x}/{y}.mvt": (200, _tile_plan_ids),
        "/tiles/patrol_routes.json": (200, None),
        "/ogc/collections/patrol_routes": (200, None),
        f"{items}?limit=1000": (200, _item_plan_ids),
        f"{items}/{route_id}": (404, None),
        f"/maps/patrols?id={world.plan_id}": (403, None),
    }
    wrong = []
    for (url, (out_of_scope, plans)), role, in_scope in itertools.product(
        calls.items(), Role, (True, False)
    ):
        expected = expected_outcome(role, Permission.READ_PATROLS, in_scope=True)
        want = 200 if expected == "allow" else STATUS[expected]
        if want == 200 and not in_scope:
            want = out_of_scope
        world.client.cookies.clear()
        response = world.client.get(url, headers=world.headers[(role, in_scope)])
        if response.status_code == 204 and want == 200 and not in_scope:
            continue  # an empty tile: nothing of the plan in it, as out of scope should be
        if response.status_code != want:
            wrong.append(f"{role} {'in' if in_scope else 'out'} {url}: {response.status_code}")
        elif want == 200 and plans and (world.plan_id in plans(response)) is not in_scope:
            wrong.append(f"{role} {'in' if in_scope else 'out'} {url}: plan shown wrongly")
        if want == 200 and not url.startswith("/maps"):
            assert response.headers["cache-control"] == "private, no-cache", url
            assert "access-control-allow-origin" not in response.headers, url
    assert wrong == []


def _tile_plan_ids(response: Any) -> set[int]:
    if response.status_code == 204:
        return set()
    layers = mapbox_vector_tile.decode(response.content)
    return {int(f["properties"]["plan_id"]) for f in layers["patrol_routes"]["features"]}


def _item_plan_ids(response: Any) -> set[int]:
    return {int(f["properties"]["plan_id"]) for f in response.json()["features"]}
