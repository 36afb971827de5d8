"""Households over HTTP: recording visits (bad input named, nothing half-written), reading
them, the list in scope, and the counts per unit checked against the rows themselves."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import account_headers
from tests.conftest import settings_for

ELDERLY = "H-0000004-0204"  # an elderly_alone household of the demo registry


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(demo_engine), engine=demo_engine)) as test_client:
        yield test_client


def _grid_of(engine: Engine, household: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT b.grid_code FROM households h JOIN buildings b ON b.id = h.building_id"
                    " WHERE h.code = :code"
                ),
                {"code": household},
            ).scalar_one()
        )


def test_record_and_read_visits(client: TestClient, demo_engine: Engine) -> None:
    grid = _grid_of(demo_engine, ELDERLY)
    worker = account_headers(demo_engine, "w", "worker", scope=grid)
    now = datetime.now(UTC)
    # Overdue by design: a met visit 20 days ago, then a not_home one.
    with demo_engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM household_visits WHERE household_id = "
                "(SELECT id FROM households WHERE code = :code)"
            ),
            {"code": ELDERLY},
        )
    for days, outcome in ((20, "met"), (1, "not_home")):
        at = (now - timedelta(days=days)).isoformat()
        made = client.post(
            f"/households/{ELDERLY}/visits",
            json={"visited_at": at, "outcome": outcome, "note": f"{outcome} note"},
            headers=worker,
        )
        assert made.status_code == 201, made.text
        assert made.json()["worker"] == "w" and made.json()["recorded_by"] == "w"
    listed = client.get("/households", params={"due": "overdue", "limit": 1000}, headers=worker)
    assert listed.status_code == 200
    mine = {h["code"]: h for h in listed.json()["households"]}
    assert mine[ELDERLY]["overdue"] is True  # not_home did not reset the cadence
    assert {h["grid_code"] for h in mine.values()} == {grid}  # the worker's scope only
    # A met visit now resets it.
    met = client.post(
        f"/households/{ELDERLY}/visits",
        json={"visited_at": now.isoformat(), "outcome": "met"},
        headers=worker,
    )
    assert met.status_code == 201
    after = client.get("/households", params={"building": "BLD-0000004"}, headers=worker).json()
    shown = next(h for h in after["households"] if h["code"] == ELDERLY)
    assert shown["overdue"] is False and shown["visit_every_days"] == 7
    trail = client.get(f"/households/{ELDERLY}/visits", headers=worker).json()
    assert [v["outcome"] for v in trail] == ["met", "not_home", "met"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"visited_at": "2999-01-01T10:00:00+08:00", "outcome": "met"}, 422, "in the future"),
        ({"visited_at": "2026-01-01T10:00:00+08:00", "outcome": "hugged"}, 422, "outcome"),
        ({"visited_at": "yesterday", "outcome": "met"}, 422, "visited_at"),
        ({"outcome": "met"}, 422, "visited_at"),
        ({"visited_at": "2026-01-01T10:00:00", "outcome": "met", "mood": "ok"}, 422, "mood"),
        ({"visited_at": "2026-01-01T10:00:00", "outcome": "met", "note": "x" * 2001}, 422, "note"),
    ],
)
def test_bad_visits_are_refused_and_not_stored(
    client: TestClient, demo_engine: Engine, body: dict[str, str], status: int, needle: str
) -> None:
    admin = account_headers(demo_engine, "root", "admin")
    before = len(client.get(f"/households/{ELDERLY}/visits", headers=admin).json())
    answer = client.post(f"/households/{ELDERLY}/visits", json=body, headers=admin)
    assert answer.status_code == status, answer.text
    assert needle in answer.text
    assert len(client.get(f"/households/{ELDERLY}/visits", headers=admin).json()) == before


def test_unknown_and_moved_out_households(client: TestClient, demo_engine: Engine) -> None:
    admin = account_headers(demo_engine, "root", "admin")
    visit = {"visited_at": "2026-01-01T10:00:00+08:00", "outcome": "met"}
    assert client.post("/households/H-NONE/visits", json=visit, headers=admin).status_code == 404
    assert client.get("/households/H-NONE/visits", headers=admin).status_code == 404
    assert client.get("/households?building=NO-BLD", headers=admin).status_code == 404
    with demo_engine.begin() as conn:
        conn.execute(
            text("UPDATE households SET moved_out_at = now() WHERE code = :c"), {"c": ELDERLY}
        )
    moved = client.post(f"/households/{ELDERLY}/visits", json=visit, headers=admin)
    assert moved.status_code == 409 and "moved out" in moved.json()["detail"]
    codes = {
        h["code"] for h in client.get("/households?limit=1000", headers=admin).json()["households"]
    }
    assert ELDERLY not in codes


def test_analytics_counts_match_the_rows(client: TestClient, demo_engine: Engine) -> None:
    """Counts per community against the list of the whole city read by an admin (the same
    deadlines) and an independent Python count of on-time visits from the raw rows."""
    admin = account_headers(demo_engine, "root", "admin")
    figures = client.get("/analytics/visits", params={"level": "community"})  # anonymous
    assert figures.status_code == 200
    body = figures.json()
    assert "head_name" not in figures.text and "phone" not in figures.text
    rows, offset = [], 0
    while True:
        page = client.get(
            "/households", params={"limit": 1000, "offset": offset}, headers=admin
        ).json()
        rows += page["households"]
        offset += 1000
        if offset >= page["numberMatched"]:
            break
    located = [h for h in rows if h["grid_code"]]
    by_unit = Counter(h["community_code"] for h in located)
    cadence = Counter(h["community_code"] for h in located if h["visit_every_days"])
    overdue = Counter(h["community_code"] for h in located if h["overdue"])
    units = {u["code"]: u for u in body["units"]}
    assert {c: u["households"] for c, u in units.items()} == dict(by_unit)
    assert {c: u["with_cadence"] for c, u in units.items() if u["with_cadence"]} == dict(cadence)
    assert {c: u["overdue"] for c, u in units.items() if u["overdue"]} == dict(overdue)
    # On time in the last 30 days, from the raw visits, on the Shanghai calendar.
    every = {h["code"]: h["visit_every_days"] for h in located if h["visit_every_days"]}
    unit_of = {h["code"]: h["community_code"] for h in located}
    with demo_engine.connect() as conn:
        visits = conn.execute(
            text(
                "SELECT h.code, (v.visited_at AT TIME ZONE 'Asia/Shanghai')::date AS day "
                "FROM household_visits v JOIN households h ON h.id = v.household_id "
                "WHERE v.outcome = 'met' AND v.visited_at <= now() "
                "ORDER BY h.code, v.visited_at"
            )
        ).all()
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    on_time: set[str] = set()
    previous: dict[str, date] = {}
    for code, day in visits:
        last = previous.get(code)
        recent = code in every and day > today - timedelta(days=30)
        if recent and (last is None or day <= last + timedelta(days=every[code])):
            on_time.add(code)
        previous[code] = day
    expected = Counter(unit_of[c] for c in on_time)
    assert {c: u["visited_on_time"] for c, u in units.items() if u["visited_on_time"]} == dict(
        expected
    )
    assert sum(expected.values()) > 100  # the demo history is recent whenever it is loaded
