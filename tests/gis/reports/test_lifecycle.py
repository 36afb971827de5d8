"""The report state machine: every legal and illegal transition, escalation, the event log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from gis.core.errors import InvalidInput, InvalidTransition
from gis.core.vocabulary import OPEN_STATUSES, STATUSES, TERMINAL_STATUSES, ReportStatus
from gis.reports.actions import ACTIONS, allowed_actions
from gis.reports.intake import ReportInput, submit_report
from gis.reports.lifecycle import list_events, transition_report
from tests.conftest import CATEGORIES


def _shortest_paths() -> dict[str, list[str]]:
    """The shortest action path from "reported" to each status, walked over ``ACTIONS``."""
    paths: dict[str, list[str]] = {ReportStatus.REPORTED: []}
    frontier = [str(ReportStatus.REPORTED)]
    while frontier:
        status = frontier.pop(0)
        for action in allowed_actions(status):
            target = ACTIONS[action].target or status
            if target not in paths:
                paths[target] = [*paths[status], action]
                frontier.append(target)
    return paths


PATHS = _shortest_paths()
# What each action leads to, written out from the product's lifecycle (PRODUCT.md, README) as
# an independent statement of it; "escalate" keeps the status.
EXPECTED_TARGET = {
    "accept": "accepted",
    "reject": "rejected",
    "confirm_duplicate": "duplicate",
    "dispatch": "dispatched",
    "arrive": "in_progress",
    "resolve": "resolved",
    "verify": "verified",
    "reopen": "in_progress",
    "close": "closed",
    # An admin's verdict on spam: from any status, out of every analysis.
    "mark_invalid": "invalid",
}


def _new_report(conn: Any, lat: float = 30.66, lon: float = 104.05) -> int:
    original = submit_report(
        conn,
        ReportInput(lat=lat, lon=lon, category="parking", description="original"),
        categories=CATEGORIES,
    ).report["id"]
    # A second one on the same spot is flagged as the original's duplicate.
    report = submit_report(
        conn,
        ReportInput(lat=lat, lon=lon, category="parking", description="again"),
        categories=CATEGORIES,
    ).report
    assert report["likely_duplicate_of"] == original
    return int(report["id"])


def _do(conn: Any, report_id: int, action: str) -> dict[str, Any]:
    return transition_report(conn, report_id, action=action, actor="tester", note="a note")


def test_every_status_is_reachable_from_reported() -> None:
    assert set(PATHS) == set(STATUSES)
    assert PATHS["closed"] == ["accept", "dispatch", "arrive", "resolve", "verify", "close"]
    assert {a.target for a in ACTIONS.values() if a.target} | {"reported"} == set(STATUSES)


@pytest.mark.parametrize("status", STATUSES)
def test_every_action_from_every_status(demo_engine: Engine, status: str) -> None:
    for n, action in enumerate(ACTIONS):
        with demo_engine.begin() as conn:
            # ~100 m apart so each pair is only its own duplicate.
            report_id = _new_report(conn, lon=104.045 + n * 0.001)
            for step in PATHS[status]:
                _do(conn, report_id, step)
            stored = conn.execute(
                text("SELECT status FROM reports WHERE id = :id"), {"id": report_id}
            ).scalar_one()
            assert stored == status
            legal = allowed_actions(status)
            if action in legal:
                after = _do(conn, report_id, action)
                assert after["status"] == EXPECTED_TARGET.get(action, status)
                events = list_events(conn, report_id)
                assert events[-1]["action"] == action
                assert events[-1]["from_status"] == status
                assert events[-1]["actor"] == "tester"
                assert len(events) == 1 + len(PATHS[status]) + 1
            else:
                with pytest.raises(InvalidTransition) as info:
                    _do(conn, report_id, action)
                assert info.value.current_status == status
                assert info.value.allowed_actions == legal
                assert f"'{status}'" in info.value.detail
                assert len(list_events(conn, report_id)) == 1 + len(PATHS[status])


def test_terminal_statuses_are_exactly_those_allowing_nothing() -> None:
    # An admin's "mark_invalid" (spam) stays possible after the workflow ended.
    ended = {s for s in STATUSES if set(allowed_actions(s)) <= {"mark_invalid"}}
    assert ended == set(TERMINAL_STATUSES)
    assert allowed_actions(ReportStatus.INVALID) == []
    # An open report is one someone still has to act on: it can always be escalated.
    assert all("escalate" in allowed_actions(s) for s in OPEN_STATUSES)
    assert not any("escalate" in allowed_actions(s) for s in STATUSES if s not in OPEN_STATUSES)


def test_dispatch_goes_to_a_worker_of_the_grid(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        report_id = _new_report(conn)
        _do(conn, report_id, "accept")
        report = _do(conn, report_id, "dispatch")
        grid = report["location"]["grid_code"]
        served = conn.execute(
            text("SELECT grid_code FROM worker_grids WHERE worker_id = :w"),
            {"w": report["worker"]["id"]},
        ).scalars()
        assert grid in set(served)
        assert report["worker"]["role"] == "grid_worker"
        stranger = conn.execute(
            text(
                "SELECT worker_id FROM worker_grids GROUP BY worker_id "
                "HAVING NOT bool_or(grid_code = :g) LIMIT 1"
            ),
            {"g": grid},
        ).scalar_one()
        with pytest.raises(InvalidInput, match="^worker_id: worker .* does not serve"):
            transition_report(conn, report_id, action="dispatch", actor="d", worker_id=stranger)


def test_a_failed_transition_writes_nothing(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        report_id = _new_report(conn)
        for step in PATHS["in_progress"]:
            _do(conn, report_id, step)
    with pytest.raises(InvalidInput, match="^note:"), demo_engine.begin() as conn:
        transition_report(conn, report_id, action="resolve", actor="w")
    with demo_engine.connect() as conn:
        assert [e["action"] for e in list_events(conn, report_id)][-1] == "arrive"
        status = conn.execute(text("SELECT status FROM reports WHERE id = :id"), {"id": report_id})
        assert status.scalar_one() == "in_progress"


def test_escalation_climbs_grid_community_subdistrict_district(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        # Far from any district border.
        report = submit_report(
            conn,
            ReportInput(lat=30.6515, lon=104.0470, category="parking", description="x"),
            categories=CATEGORIES,
        ).report
        assert report["coordinating_community_code"] is None
        grid = report["location"]["grid_code"]
        seen = []
        for _ in range(3):
            after = transition_report(conn, report["id"], action="escalate", actor="grid worker")
            seen.append((after["escalation_level"], after["responsible_code"]))
        assert seen == [("community", grid[:12]), ("subdistrict", grid[:9]), ("district", grid[:6])]
        assert after["status"] == "reported"
        assert "escalate" not in after["allowed_actions"]
        with pytest.raises(InvalidTransition):
            transition_report(conn, report["id"], action="escalate", actor="x")


def test_enclave_report_escalates_across_the_border(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        # A grid of the straddling community (district 990101) that lies in district 990103.
        lon, lat = conn.execute(
            text(
                """
                SELECT ST_X(p), ST_Y(p) FROM (
                    SELECT ST_PointOnSurface(ST_Intersection(g.geom, d.geom)) AS p
                    FROM grids g JOIN districts d
                      ON ST_Intersects(g.geom, d.geom) AND left(g.community_code, 6) <> d.code
                    ORDER BY ST_Area(ST_Intersection(g.geom, d.geom)) DESC LIMIT 1) s
                """
            )
        ).one()
        report = submit_report(
            conn,
            ReportInput(lat=lat, lon=lon, category="parking", description="enclave"),
            categories=CATEGORIES,
        ).report
        coordinating = report["coordinating_community_code"]
        location = report["location"]
        assert location["community_code"][:6] != location["district_code"]
        assert coordinating is not None and coordinating[:6] == location["district_code"]
        after = transition_report(conn, report["id"], action="escalate", actor="grid worker")
        assert after["responsible_code"] == coordinating
        event = list_events(conn, report["id"])[-1]
        assert event["details"]["across_border"] is True


def test_event_log_is_append_only(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        report_id = _new_report(conn)
    for statement in ("UPDATE report_events SET note = 'x'", "DELETE FROM report_events"):
        with pytest.raises(DBAPIError, match="append-only"), demo_engine.begin() as conn:
            conn.execute(text(statement))
    with demo_engine.connect() as conn:
        assert len(list_events(conn, report_id)) == 1
