"""Plans on the hand-built street town, where every answer can be worked out by hand.

Walking at 4.5 km/h is 1.25 m/s; the expected metres come from the town's UTM geometry turned
into geodesic metres by pyproj (``geodesic_m``), independent of PostGIS and pgRouting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gis.core.errors import InvalidInput
from gis.patrols.planning import Plan
from gis.patrols.reasons import UnservedCode
from gis.patrols.request import PlanRequest
from gis.patrols.service import plan_patrols
from tests.conftest import CATEGORIES
from tests.gis.streets import D1, D2, geodesic_m, lonlat

START_AT = datetime.fromisoformat("2026-11-24T18:00:00+08:00")
SPEED_MPS = 4.5 * 1000 / 3600


@pytest.fixture
def town(empty_engine: Engine) -> Iterator[Engine]:
    from tests.gis.streets import build_streets

    build_streets(empty_engine)
    yield empty_engine


def _at(x: float, y: float) -> dict[str, float]:
    lon, lat = lonlat(x, y)
    return {"lon": lon, "lat": lat}


def _point(x: float, y: float, label: str, **extra: Any) -> dict[str, Any]:
    return {**_at(x, y), "label": label, **extra}


def _request(**fields: Any) -> PlanRequest:
    body: dict[str, Any] = {"start_at": START_AT.isoformat(), "time_limit_s": 1} | fields
    return PlanRequest.model_validate(body)


def _plan(engine: Engine, **fields: Any) -> Plan:
    with engine.connect() as conn:
        return plan_patrols(conn, _request(**fields), categories=CATEGORIES).plan


def _served_by(plan: Plan) -> dict[str, str]:
    return {s.stop.ref: r.patroller.name for r in plan.routes for s in r.stops}


WEST = {"name": "West", "start": _at(900, 500), "district": D1}
EAST = {"name": "East", "start": _at(1800, 500)}


def test_stop_across_the_border_goes_to_the_nearer_patroller_only_when_joint(town: Engine) -> None:
    stops = {"points": [_point(1100, 600, "across the border")]}
    with town.connect() as conn:
        outcome = plan_patrols(
            conn,
            _request(mode="joint", compare=True, patrollers=[WEST, EAST], stops=stops),
            categories=CATEGORIES,
        )
    assert outcome.alternative is not None and outcome.comparison is not None
    joint, siloed = outcome.plan, outcome.alternative
    assert _served_by(joint) == {"across the border": "West"}
    assert _served_by(siloed) == {"across the border": "East"}
    # East's district comes from where it starts.
    assert [r.patroller.district_code for r in joint.routes] == [D1, D2]
    there_and_back = 2 * geodesic_m((900, 500), (1100, 500), (1100, 600))
    assert joint.total_length_m == pytest.approx(there_and_back, rel=2e-3)
    assert siloed.total_length_m == pytest.approx(
        2 * geodesic_m((1800, 500), (1100, 500), (1100, 600)), rel=2e-3
    )
    assert outcome.comparison.saved_m == pytest.approx(
        siloed.total_length_m - joint.total_length_m, abs=0.1
    )
    assert outcome.comparison.saved_m > 0
    assert outcome.comparison.stops_gained == 0
    # Times: out along the street, 5 minutes on site, back.
    (visit,) = joint.routes[0].stops
    assert visit.arrive_at is not None
    assert (visit.arrive_at - START_AT).total_seconds() == pytest.approx(
        there_and_back / 2 / SPEED_MPS, abs=1.0
    )
    assert joint.routes[0].duration_minutes == pytest.approx(
        there_and_back / SPEED_MPS / 60 + 5, abs=0.05
    )


def test_shift_limits_hold(town: Engine) -> None:
    stops = {
        "points": [
            _point(200, 300, "near"),
            _point(500, 800, "undershoot street"),
            _point(1100, 700, "over the border"),
            _point(1800, 300, "far east"),
        ]
    }
    patroller = {"name": "West", "start": _at(200, 500), "shift_minutes": 35}
    plan = _plan(town, patrollers=[patroller], stops=stops)
    (route,) = plan.routes
    assert route.duration_minutes <= 35
    assert route.return_at <= START_AT + timedelta(minutes=35)
    reasons = {u.stop.ref: u.reason for u in plan.unserved}
    assert all(reason is not None for reason in reasons.values())
    codes = {ref: reason.code for ref, reason in reasons.items() if reason is not None}
    # 1,800 m each way at 1.25 m/s is 48 minutes: beyond any 35-minute shift.
    assert codes["far east"] == UnservedCode.SHIFT_TOO_SHORT
    # "near" then "undershoot street" and back is 200 + 800 + 600 m (21.3 min) plus 2 x 5 min
    # on site; adding "over the border" (alone 34.3 min) cannot fit, so two stops beat one.
    assert [s.stop.ref for s in route.stops] in (
        ["near", "undershoot street"],
        ["undershoot street", "near"],
    )
    # An optional stop the others left no time for.
    assert codes["over the border"] == UnservedCode.LESS_VALUABLE
    expected_m = (
        geodesic_m((200, 500), (200, 300))
        + geodesic_m((200, 300), (200, 500), (500, 500), (500, 800))
        + geodesic_m((500, 800), (500, 500), (200, 500))
    )
    assert route.length_m == pytest.approx(expected_m, rel=2e-3)
    assert route.duration_minutes == pytest.approx(expected_m / SPEED_MPS / 60 + 10, abs=0.05)


def test_walking_limits_spread_the_stops_and_hold(town: Engine) -> None:
    stops = {
        "points": [
            _point(200, 300, "near"),
            _point(500, 800, "up N500"),
            _point(900, 300, "down N900"),
        ]
    }
    team = [{"name": n, "start": _at(200, 500)} for n in ("A", "B")]
    free = _plan(town, patrollers=team, stops=stops)
    assert free.served == 3
    # Round trips from the start: "near" 400 m, "up N500" 1,200 m, "down N900" 1,800 m; with
    # 1.3 km each the first two cannot share a route and the third fits no one.
    limited = _plan(town, patrollers=[t | {"max_walk_km": 1.3} for t in team], stops=stops)
    served = _served_by(limited)
    assert set(served) == {"near", "up N500"}
    assert served["near"] != served["up N500"]
    assert all(r.length_m <= 1300 for r in limited.routes)
    lengths = sorted(r.length_m for r in limited.routes)
    assert lengths == pytest.approx(
        [
            2 * geodesic_m((200, 500), (200, 300)),
            2 * geodesic_m((200, 500), (500, 500), (500, 800)),
        ],
        rel=2e-3,
    )
    (far,) = limited.unserved
    assert far.stop.ref == "down N900"
    assert far.reason is not None
    assert far.reason.code == UnservedCode.BEYOND_WALK_LIMIT
    assert "1.3 km" in far.reason.detail


def test_disconnected_and_distant_stops_are_unserved_with_their_reason(town: Engine) -> None:
    stops = {
        "points": [
            _point(650, 955, "on the fragment"),
            _point(1000, 2500, "far from any street"),
            _point(900, 300, "fine"),
        ]
    }
    plan = _plan(town, patrollers=[WEST], stops=stops, max_snap_m=50)
    reasons = {u.stop.ref: u.reason for u in plan.unserved}
    fragment, far = reasons["on the fragment"], reasons["far from any street"]
    assert fragment is not None and far is not None
    assert fragment.code == UnservedCode.OTHER_COMPONENT
    assert "no patroller's start is connected to" in fragment.detail
    assert far.code == UnservedCode.NO_STREET
    assert "no street within 50 m" in far.detail
    assert _served_by(plan) == {"fine": "West"}


def _insert_report(engine: Engine, x: float, y: float, *, due_in_minutes: float) -> int:
    lon, lat = lonlat(x, y)
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    """
                    INSERT INTO reports (category, description, status, reported_at, located,
                                         district_code, due_arrival_at, due_resolution_at, geom)
                    VALUES ('public_security', 'broken light', 'dispatched', :reported, true,
                            :district, :due, :due_resolution,
                            ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
                    RETURNING id
                    """
                ),
                {
                    "reported": START_AT - timedelta(minutes=5),
                    "district": D2,
                    "due": START_AT + timedelta(minutes=due_in_minutes),
                    "due_resolution": START_AT + timedelta(hours=1),
                    "lon": lon,
                    "lat": lat,
                },
            ).scalar_one()
        )


def test_impossible_deadline_is_served_late_and_flagged(town: Engine) -> None:
    late_id = _insert_report(town, 1800, 800, due_in_minutes=1)
    ok_id = _insert_report(town, 1100, 300, due_in_minutes=30)
    patroller = {"name": "West", "start": _at(200, 500), "shift_minutes": 120}
    plan = _plan(
        town,
        patrollers=[patroller],
        stops={"open_reports": True, "districts": [D2], "points": [_point(200, 300, "x")]},
    )
    visits = {s.stop.ref: s for r in plan.routes for s in r.stops}
    assert str(late_id) in visits and str(ok_id) in visits
    late, on_time = visits[str(late_id)], visits[str(ok_id)]
    assert late.stop.required and late.late
    assert late.arrive_at is not None and late.stop.due_at is not None
    assert late.late_minutes == pytest.approx(
        (late.arrive_at - late.stop.due_at).total_seconds() / 60, abs=0.02
    )
    # It cannot be reached in a minute: the walk alone is 1,600 + 300 m.
    assert (
        late.late_minutes >= geodesic_m((200, 500), (1800, 500), (1800, 800)) / SPEED_MPS / 60 - 1
    )
    assert not on_time.late


def test_required_report_is_served_before_optional_stops(town: Engine) -> None:
    report_id = _insert_report(town, 1800, 800, due_in_minutes=600)
    optional = [_point(200, 100 + 40 * k, f"p{k}") for k in range(5)]
    patroller = {"name": "West", "start": _at(200, 500), "shift_minutes": 60}
    plan = _plan(
        town,
        patrollers=[patroller],
        stops={"open_reports": True, "districts": [D2], "points": optional},
    )
    assert str(report_id) in _served_by(plan)
    assert plan.routes[0].duration_minutes <= 60


def test_by_district_refuses_patrollers_without_district(town: Engine) -> None:
    outside = {"name": "Nowhere", "start": _at(1000, 1200)}
    with town.connect() as conn, pytest.raises(InvalidInput, match="Nowhere"):
        plan_patrols(
            conn,
            _request(
                mode="by_district", patrollers=[outside], stops={"points": [_point(1, 1, "a")]}
            ),
            categories=CATEGORIES,
        )


def test_start_far_from_streets_is_refused(town: Engine) -> None:
    far = {"name": "Far", "start": _at(1000, 3000)}
    with town.connect() as conn, pytest.raises(InvalidInput, match="from the nearest street"):
        plan_patrols(
            conn,
            _request(patrollers=[far], stops={"points": [_point(900, 300, "a")]}),
            categories=CATEGORIES,
        )


def test_no_network_is_refused(empty_engine: Engine) -> None:
    from tests.gis.streets import build_streets

    build_streets(empty_engine, with_roads=False)
    with empty_engine.connect() as conn, pytest.raises(InvalidInput, match="no street network"):
        plan_patrols(
            conn,
            _request(patrollers=[WEST], stops={"points": [_point(900, 300, "a")]}),
            categories=CATEGORIES,
        )


def test_nothing_to_visit_is_an_empty_plan_not_an_error(town: Engine) -> None:
    # No open report exists in the town: every patroller stays put.
    plan = _plan(town, patrollers=[WEST, EAST], stops={"open_reports": True})
    assert plan.served == 0 and plan.unserved == []
    assert [r.duration_minutes for r in plan.routes] == [0.0, 0.0]
    assert all(r.geometry is None for r in plan.routes)


def test_stops_at_one_spot_are_all_served(town: Engine) -> None:
    same = [_point(1100, 600, f"door {k}") for k in range(3)]
    plan = _plan(town, patrollers=[WEST], stops={"points": same})
    (route,) = plan.routes
    assert len(route.stops) == 3
    assert route.length_m == pytest.approx(
        2 * geodesic_m((900, 500), (1100, 500), (1100, 600)), rel=2e-3
    )


def test_every_stop_option_is_one_registry_kind() -> None:
    from gis.patrols.kinds import STOP_KINDS
    from gis.patrols.request import StopsIn
    from gis.patrols.stops import StopKind

    assert set(STOP_KINDS) == set(StopKind)
    assert sorted(spec.option for spec in STOP_KINDS.values()) == sorted(StopsIn.kind_options())


SPOKES = {
    "points": [
        _point(200, 300, "south 200 m"),
        _point(200, 880, "north 380 m"),
        _point(900, 500, "east 700 m"),
    ]
}
TRIO = [{"name": n, "start": _at(200, 500)} for n in ("A", "B", "C")]


def test_balanced_spreads_a_team_leaving_one_station(town: Engine) -> None:
    # Every stop lies on its own spoke from the start: any split walks the same total, so the
    # team total cannot tell one patroller doing everything from three sharing. The two short
    # spokes together (1,160 m and 10 min on site) take longer than the long one alone.
    balanced = _plan(town, patrollers=TRIO, stops=SPOKES)
    assert balanced.objective == "balanced"
    assert sorted(len(r.stops) for r in balanced.routes) == [1, 1, 1]
    spokes = [((200, 500), (200, 300)), ((200, 500), (200, 880)), ((200, 500), (900, 500))]
    out_and_back = [2 * geodesic_m(*spoke) for spoke in spokes]
    longest = max(out_and_back) / SPEED_MPS / 60 + 5
    assert max(r.duration_minutes for r in balanced.routes) == pytest.approx(longest, abs=0.05)
    assert balanced.total_length_m == pytest.approx(sum(out_and_back), rel=2e-3)
    shortest = _plan(town, patrollers=TRIO, stops=SPOKES, objective="shortest")
    assert shortest.objective == "shortest"
    assert shortest.total_length_m == pytest.approx(sum(out_and_back), rel=2e-3)
    assert max(r.duration_minutes for r in shortest.routes) >= longest - 0.05


def test_balanced_plan_answers_each_patrollers_share(town: Engine) -> None:
    from gis.patrols.service import create_patrol_plan

    stored = create_patrol_plan(
        town, _request(patrollers=TRIO, stops=SPOKES), categories=CATEGORIES
    )
    assert stored.objective == "balanced"
    assert [s.patroller for s in stored.shares] == ["A", "B", "C"]
    assert [s.stops for s in stored.shares] == [len(r.stops) for r in stored.routes]
    assert [s.minutes for s in stored.shares] == [r.duration_minutes for r in stored.routes]
    assert [s.length_m for s in stored.shares] == [r.length_m for r in stored.routes]
    assert max(s.of_longest for s in stored.shares) == 1.0
    assert stored.over_capacity == 0 and stored.missing_patroller_hours == 0


def test_lateness_costs_by_the_minute(town: Engine) -> None:
    # Far report: 1,900 m (25.3 min), due in 30 min; near report: 200 m, due in 1 minute (late
    # whatever the order). Near first makes both a few minutes late; far first keeps it on time
    # but the near one waits ~57 minutes. Per minute, near first is cheaper; a fixed penalty
    # per late stop would choose far first (one late stop instead of two).
    far_id = _insert_report(town, 1800, 800, due_in_minutes=30)
    near_id = _insert_report(town, 200, 300, due_in_minutes=1)
    patroller = {"name": "West", "start": _at(200, 500), "shift_minutes": 120}
    plan = _plan(town, patrollers=[patroller], stops={"open_reports": True, "districts": [D1, D2]})
    (route,) = plan.routes
    assert [s.stop.ref for s in route.stops] == [str(near_id), str(far_id)]
    walk_near = geodesic_m((200, 500), (200, 300)) / SPEED_MPS / 60
    walk_far = geodesic_m((200, 300), (200, 500), (1800, 500), (1800, 800)) / SPEED_MPS / 60
    near, far = route.stops
    assert near.late_minutes == pytest.approx(walk_near - 1, abs=0.05)
    assert far.late_minutes == pytest.approx(walk_near + 5 + walk_far - 30, abs=0.05)


def test_required_stops_beyond_the_team_are_flagged_over_capacity(town: Engine) -> None:
    from gis.patrols.service import create_patrol_plan

    ids = [_insert_report(town, 1100, 150 + 50 * k, due_in_minutes=600) for k in range(6)]
    # 45 minutes: out 900 + 300 m (16 min) and back leaves room for a few 5-minute visits only.
    patroller = {"name": "West", "start": _at(200, 500), "shift_minutes": 45}
    request = _request(patrollers=[patroller], stops={"open_reports": True, "districts": [D2]})
    with town.connect() as conn:
        plan = plan_patrols(conn, request, categories=CATEGORIES).plan
    served = {s.stop.ref for r in plan.routes for s in r.stops}
    left = [u for u in plan.unserved if u.stop.ref in {str(i) for i in ids}]
    assert served and left and len(served) + len(left) == len(ids)
    assert all(u.reason is not None and u.reason.code == UnservedCode.OVER_CAPACITY for u in left)
    assert plan.over_capacity == len(left)
    # Each left-out report: 5 minutes on site plus the walk from the nearest served report
    # (they lie 50 m apart on N1100) and back.
    assert plan.missing_minutes >= len(left) * 5
    assert plan.missing_minutes <= len(left) * (5 + 2 * 300 / SPEED_MPS / 60)
    stored = create_patrol_plan(town, request, categories=CATEGORIES)
    assert stored.over_capacity == len(left)
    assert stored.missing_patroller_hours == pytest.approx(plan.missing_minutes / 60, abs=0.02)
    assert {u.reason_code for u in stored.unserved} == {UnservedCode.OVER_CAPACITY}


def _walked(engine: Engine, grid_code: str, days_ago: float) -> None:
    """A GPS track that passed ``grid_code`` ``days_ago`` days before the plan's start."""
    at = START_AT - timedelta(days=days_ago)
    with engine.begin() as conn:
        plan_id = conn.execute(
            text(
                "INSERT INTO patrol_plans (mode, start_at, walk_speed_kmh, total_length_m, "
                "total_minutes, served, unserved, request) "
                "VALUES ('joint', :at, 4.5, 0, 0, 0, 0, '{}') RETURNING id"
            ),
            {"at": at},
        ).scalar_one()
        lon0, lat0 = lonlat(200, 500)
        lon1, lat1 = lonlat(300, 500)
        track_id = conn.execute(
            text(
                "INSERT INTO patrol_tracks (plan_id, source, started_at, ended_at, points, "
                "length_m, geom) VALUES (:plan, 'geojson', :at, :at, 2, 100, "
                "ST_SetSRID(ST_MakeLine(ST_MakePointM(:lon0, :lat0, 0), "
                "ST_MakePointM(:lon1, :lat1, 60)), 4326)) RETURNING id"
            ),
            {"plan": plan_id, "at": at, "lon0": lon0, "lat0": lat0, "lon1": lon1, "lat1": lat1},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO patrol_track_grids (track_id, grid_code, length_m, minutes, "
                "first_at, last_at) VALUES (:track, :grid, 100, 1, :at, :at)"
            ),
            {"track": track_id, "grid": grid_code, "at": at},
        )


def test_stale_grids_become_stops_valued_by_days_since(town: Engine) -> None:
    from gis.patrols.kinds import STOP_KINDS
    from gis.patrols.stops import MAX_STALE_DAYS, StopKind
    from tests.gis.streets import GRID_1, GRID_2

    weight = STOP_KINDS[StopKind.STALE_GRID].weight
    team = [WEST, EAST]
    never = _plan(town, patrollers=team, stops={"stale_grids": True})
    visited = {s.stop.ref: s for r in never.routes for s in r.stops}
    assert set(visited) == {GRID_1, GRID_2}
    assert all(s.stop.value == pytest.approx(MAX_STALE_DAYS * weight) for s in visited.values())
    assert all(s.stop.service_minutes == 10 for s in visited.values())
    assert all(s.stop.label == "never patrolled" for s in visited.values())
    _walked(town, GRID_1, days_ago=2)
    _walked(town, GRID_2, days_ago=10.5)
    week = _plan(town, patrollers=team, stops={"stale_grids": {"days": 7, "dwell_minutes": 4}})
    stops = {s.stop.ref: s.stop for r in week.routes for s in r.stops}
    assert set(stops) == {GRID_2}
    assert stops[GRID_2].value == pytest.approx(10.5 * weight, abs=1e-6)
    assert stops[GRID_2].service_minutes == 4
    assert stops[GRID_2].grid_code == GRID_2 and stops[GRID_2].district_code == D2
    day = _plan(town, patrollers=team, stops={"stale_grids": {"days": 1}})
    values = {s.stop.ref: s.stop.value for r in day.routes for s in r.stops}
    assert values == pytest.approx({GRID_1: 2 * weight, GRID_2: 10.5 * weight})


@pytest.mark.parametrize("days", [0, 366, "week"])
def test_bad_stale_grid_options_are_refused(days: Any) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="days"):
        _request(patrollers=[WEST], stops={"stale_grids": {"days": days}})
