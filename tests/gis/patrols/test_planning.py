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
    assert outcome.comparison["saved_m"] == pytest.approx(
        siloed.total_length_m - joint.total_length_m, abs=0.1
    )
    assert outcome.comparison["saved_m"] > 0
    assert outcome.comparison["stops_gained"] == 0
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
