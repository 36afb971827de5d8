"""The patrol leader's page (``/app/patrols``) through the app: who may open it, the workers of
the scope only, a plan made from the form being the plan the API makes of the same request
(checked against the database, not the page's own numbers), publishing once (409 after),
a stale plan refused, the CSRF token required, the heavy pool's 503 shown, bad input named."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.heavy import HeavyPool
from tests.accounts import PASSWORD, account_headers, page_csrf_token
from tests.conftest import settings_for
from tests.endpoints import INLAND

HTML = {"Accept": "text/html,application/xhtml+xml"}
HTMX = {"HX-Request": "true"}
DISTRICT = "990101"
WORKER_BOX = re.compile(r'name="workers" value="([^"]+)"')


@dataclass
class Leader:
    app: FastAPI
    client: TestClient
    engine: Engine
    headers: dict[str, str]
    station: str
    workers: list[str]
    buildings: list[str]
    worker_headers: dict[str, str]


@pytest.fixture(scope="module")
def leader(pg_server: object, templates: dict[str, str]) -> Iterator[Leader]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):  # type: ignore[arg-type]
        settings = settings_for(engine, heavy_slots=1, heavy_wait_s=0.1, heavy_retry_after_s=7)
        from api.main import create_app

        app = create_app(settings, engine=engine)
        with TestClient(app, follow_redirects=False) as client, engine.begin() as conn:
            # Nothing open: the plans' stops are the ones each test names.
            conn.execute(text("UPDATE reports SET status = 'closed'"))
            station = conn.execute(
                text(
                    "SELECT code FROM facilities WHERE kind = 'service_station' "
                    "AND grid_code LIKE :d || '%' ORDER BY code LIMIT 1"
                ),
                {"d": DISTRICT},
            ).scalar_one()
            workers = (
                conn.execute(
                    text(
                        "SELECT DISTINCT w.code FROM workers w "
                        "JOIN worker_grids wg ON wg.worker_id = w.id "
                        "WHERE wg.grid_code LIKE :d || '%' ORDER BY w.code LIMIT 2"
                    ),
                    {"d": DISTRICT},
                )
                .scalars()
                .all()
            )
            # A few buildings near the station: a plan of seconds.
            buildings = (
                conn.execute(
                    text(
                        "SELECT b.code FROM buildings b, facilities f WHERE f.code = :s "
                        "ORDER BY b.geom <-> f.geom LIMIT 4"
                    ),
                    {"s": station},
                )
                .scalars()
                .all()
            )
        headers = account_headers(engine, "leader", "dispatcher", scope=DISTRICT)
        walker = account_headers(engine, "page-worker", "worker", scope=DISTRICT, worker=workers[0])
        yield Leader(app, client, engine, headers, station, list(workers), list(buildings), walker)


@pytest.fixture
def browser(leader: Leader) -> Iterator[TestClient]:
    leader.client.cookies.clear()
    yield leader.client
    leader.client.cookies.clear()


def _sign_in(client: TestClient, name: str) -> None:
    token = page_csrf_token(client)
    done = client.post(
        "/app/login", data={"username": name, "password": PASSWORD, "csrf_token": token}
    )
    assert done.status_code == 303, done.text


def _form(leader: Leader, **extra: Any) -> dict[str, Any]:
    return {
        "date": "2026-11-24",
        "time": "09:00",
        "shift_minutes": "240",
        "station": leader.station,
        "workers": leader.workers,
        "mode": "joint",
        "compare": "on",
        "objective": "balanced",
        "time_limit_s": "1",
        "buildings": " ".join(leader.buildings),
        **extra,
    }


def _plan(client: TestClient, leader: Leader, *, htmx: bool = True, **extra: Any) -> Any:
    token = page_csrf_token(client, "/app/patrols?lang=en")
    return client.post(
        "/app/patrols/plan?lang=en",
        data={"csrf_token": token, **_form(leader, **extra)},
        headers=HTMX if htmx else {},
    )


def _plan_id(answer: Any) -> int:
    found = re.search(
        r"plan=(\d+)", answer.headers.get("HX-Push-Url") or answer.headers["location"]
    )
    assert found, answer.headers
    return int(found.group(1))


def _stored(engine: Engine, plan_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT request, alternative_of FROM patrol_plans WHERE id = :id"),
            {"id": plan_id},
        ).one()
        stops = conn.execute(
            text(
                "SELECT s.kind, s.ref, r.seq AS route, s.seq, s.route_id IS NOT NULL AS served "
                "FROM patrol_stops s LEFT JOIN patrol_routes r ON r.id = s.route_id "
                "WHERE s.plan_id = :id ORDER BY r.seq, s.seq, s.ref"
            ),
            {"id": plan_id},
        ).all()
        ends = conn.execute(
            text(
                "SELECT ST_AsText(start_geom), ST_AsText(end_geom), worker_id "
                "FROM patrol_routes WHERE plan_id = :id ORDER BY seq"
            ),
            {"id": plan_id},
        ).all()
    return {"request": row.request, "stops": stops, "ends": ends}


def test_anonymous_is_sent_to_sign_in(browser: TestClient) -> None:
    page = browser.get("/app/patrols?lang=en", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/app/login?next=%2Fapp%2Fpatrols%3Flang%3Den"


def test_a_worker_cannot_plan(browser: TestClient, leader: Leader) -> None:
    _sign_in(browser, "page-worker")
    page = browser.get("/app/patrols?lang=en", headers=HTML)
    assert page.status_code == 403 and "Not allowed" in page.text
    assert "worker role may not plan patrols" in page.text
    token = page_csrf_token(browser)
    refused = browser.post(
        "/app/patrols/plan", data={"csrf_token": token, **_form(leader)}, headers=HTMX
    )
    assert refused.status_code == 403


def test_the_form_lists_only_the_workers_in_scope(browser: TestClient, leader: Leader) -> None:
    _sign_in(browser, "leader")
    page = browser.get("/app/patrols?lang=en", headers=HTML)
    assert page.status_code == 200 and "Patrol planning" in page.text
    listed = WORKER_BOX.findall(page.text)
    with leader.engine.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT DISTINCT w.code FROM workers w JOIN worker_grids wg ON wg.worker_id = w.id "
                "WHERE left(wg.grid_code, 6) = :d"
            ),
            {"d": DISTRICT},
        ).scalars()
        everyone = conn.execute(text("SELECT count(*) FROM workers")).scalar_one()
    assert sorted(listed) == sorted(expected)
    assert 0 < len(listed) < everyone
    # Every stop source of the API is offered, with its options.
    for name in (
        "open_reports",
        "hot_grids",
        "hot_confidence",
        "hot_fdr",
        "hot_categories",
        "stale_grids",
        "stale_days",
        "care_visits",
        "care_due_within_days",
        "facilities",
        "buildings",
        "points",
        "districts",
        "communities",
        "objective",
        "station",
    ):
        assert f'name="{name}"' in page.text, name
    zh = browser.get("/app/patrols", headers=HTML)
    assert "巡查计划" in zh.text and 'lang="zh-CN"' in zh.text


def test_a_plan_from_the_page_is_the_api_plan_of_the_same_request(
    browser: TestClient, leader: Leader
) -> None:
    _sign_in(browser, "leader")
    made = _plan(browser, leader)
    assert made.status_code == 200, made.text
    assert 'id="comparison"' in made.text and "<html" not in made.text
    page_plan = _plan_id(made)
    stored = _stored(leader.engine, page_plan)
    # The same request through the API, by the same account.
    api = leader.client.post("/patrols/plan", json=stored["request"], headers=leader.headers)
    assert api.status_code == 201, api.text
    api_stored = _stored(leader.engine, api.json()["id"])
    assert api_stored["request"] == stored["request"]
    request = stored["request"]
    assert [p["worker"] for p in request["patrollers"]] == leader.workers
    assert {p["start"]["facility"] for p in request["patrollers"]} == {leader.station}
    assert request["stops"]["buildings"] == leader.buildings
    # The same stops, served or not, in both; every building chosen is one or the other.
    for plan in (stored, api_stored):
        assert sorted((s.kind, s.ref) for s in plan["stops"]) == sorted(
            ("building", b) for b in leader.buildings
        )
    # Each route starts and ends at the station.
    with leader.engine.connect() as conn:
        station = conn.execute(
            text("SELECT ST_AsText(geom) FROM facilities WHERE code = :c"), {"c": leader.station}
        ).scalar_one()
    assert stored["ends"] and all(s == e == station for s, e, _ in stored["ends"])
    # The page shows the stored numbers: one row per patroller per mode, both modes.
    rows = re.findall(r'<tr data-route="(\d+)">', made.text)
    assert len(rows) == 2 * len(stored["ends"])
    assert re.findall(r'data-mode="(joint|by_district)" aria', made.text) == [
        "joint",
        "by_district",
    ]
    # Without script: a redirect to the page showing the plan.
    plain = _plan(browser, leader, htmx=False)
    assert plain.status_code == 303
    shown = browser.get(plain.headers["location"], headers=HTML)
    assert shown.status_code == 200 and 'id="comparison"' in shown.text


def test_publish_once_then_409(browser: TestClient, leader: Leader) -> None:
    _sign_in(browser, "leader")
    plan_id = _plan_id(_plan(browser, leader))
    with leader.engine.connect() as conn:
        other = conn.execute(
            text("SELECT id FROM patrol_plans WHERE alternative_of = :id"), {"id": plan_id}
        ).scalar_one()
    token = page_csrf_token(browser, f"/app/patrols?plan={plan_id}&lang=en")
    done = browser.post(f"/app/patrols/{plan_id}/publish?lang=en", data={"csrf_token": token})
    assert done.status_code == 303, done.text
    shown = browser.get(done.headers["location"], headers=HTML)
    assert "Published: 1 route(s)" in shown.text
    # The patroller with a worker account now finds the plan (the other has no account).
    mine = leader.client.get("/patrols?published_to=me", headers=leader.worker_headers).json()
    assert [p["id"] for p in mine["plans"]] == [plan_id]
    again = browser.post(f"/app/patrols/{plan_id}/publish?lang=en", data={"csrf_token": token})
    assert again.status_code == 409 and "published already" in again.text
    # The compared other mode is the same patrollers' day: refused too.
    other_mode = browser.post(f"/app/patrols/{other}/publish?lang=en", data={"csrf_token": token})
    assert other_mode.status_code == 409
    with leader.engine.connect() as conn:
        handed = conn.execute(
            text(
                "SELECT count(*) FROM patrol_routes "
                "WHERE plan_id = :id AND published_at IS NOT NULL"
            ),
            {"id": other},
        ).scalar_one()
    assert handed == 0


def test_a_plan_whose_report_closed_is_not_published(browser: TestClient, leader: Leader) -> None:
    created = browser.post(
        "/reports", json={"category": "sanitation", "description": "page plan", **INLAND}
    )
    assert created.status_code == 201, created.text
    _sign_in(browser, "leader")
    report_id = created.json()["id"]
    assert created.json()["location"]["district_code"] == DISTRICT
    made = _plan(browser, leader, buildings="", open_reports="on", compare="")
    assert made.status_code == 200, made.text
    plan_id = _plan_id(made)
    with leader.engine.begin() as conn:
        served = conn.execute(
            text(
                "SELECT route_id IS NOT NULL FROM patrol_stops "
                "WHERE plan_id = :p AND report_id = :r"
            ),
            {"p": plan_id, "r": report_id},
        ).scalar_one()
        assert served
        conn.execute(text("UPDATE reports SET status = 'closed' WHERE id = :id"), {"id": report_id})
    token = page_csrf_token(browser, f"/app/patrols?plan={plan_id}&lang=en")
    stale = browser.post(f"/app/patrols/{plan_id}/publish?lang=en", data={"csrf_token": token})
    assert stale.status_code == 409 and "out of date" in stale.text and str(report_id) in stale.text


def test_a_cross_site_post_with_the_cookie_is_refused(browser: TestClient, leader: Leader) -> None:
    _sign_in(browser, "leader")
    with leader.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM patrol_plans")).scalar_one()
    no_token = browser.post("/app/patrols/plan", data=_form(leader))
    wrong = browser.post("/app/patrols/plan", data={"csrf_token": "x" * 64, **_form(leader)})
    publish = browser.post("/app/patrols/1/publish", data={})
    for refused in (no_token, wrong, publish):
        assert refused.status_code == 403 and "csrf" in refused.text
    with leader.engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM patrol_plans")).scalar_one()
        published = conn.execute(
            text(
                "SELECT count(*) FROM patrol_routes WHERE plan_id = 1 AND published_at IS NOT NULL"
            )
        ).scalar_one()
    assert after == before and published == 0


def test_busy_is_shown_with_the_time_to_wait(browser: TestClient, leader: Leader) -> None:
    _sign_in(browser, "leader")
    pool: HeavyPool = leader.app.state.heavy_pool
    with pool.slot("a test"):
        busy = _plan(browser, leader)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "7"
    assert "Try again in 7 s" in busy.text and 'id="result"' in busy.text


def test_bad_input_is_named_and_nothing_is_planned(browser: TestClient, leader: Leader) -> None:
    _sign_in(browser, "leader")
    with leader.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM patrol_plans")).scalar_one()
        outsider = conn.execute(
            text(
                "SELECT w.code FROM workers w JOIN worker_grids wg ON wg.worker_id = w.id "
                "WHERE left(wg.grid_code, 6) <> :d LIMIT 1"
            ),
            {"d": DISTRICT},
        ).scalar_one()
    cases: dict[str, dict[str, Any]] = {
        "tick at least one patroller": {"workers": []},
        "places, line 1": {"points": "104.06 30.66"},
        "walk_speed_kmh": {"walk_speed_kmh": "fast"},
        "choose at least one kind of stop": {"buildings": ""},
        "not a date": {"hot_grids": "on", "hot_since": "yesterday"},
    }
    for expected, change in cases.items():
        answer = _plan(browser, leader, **change)
        assert answer.status_code == 422, (expected, answer.text)
        assert expected in answer.text.replace("&#39;", "'"), (expected, answer.text)
    # A worker out of scope is refused as one that does not exist (the API's rule).
    outside = _plan(browser, leader, workers=[outsider])
    assert outside.status_code == 403
    assert f"no worker with code {outsider!r}" in outside.text.replace("&#39;", "'")
    unknown = _plan(browser, leader, station="FAC-NOPE")
    assert unknown.status_code in (404, 422) and "FAC-NOPE" in unknown.text
    with leader.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM patrol_plans")).scalar_one() == before
