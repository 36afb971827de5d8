"""Care rounds: a plan with ``"stops": {"care_visits": ...}`` has as its care stops exactly the
buildings in scope with overdue households, computed here from the raw rows (the cadence from
the flags, the local calendar, containment by shapely), each with a dwell per household."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import account_headers
from tests.conftest import settings_for

COMMUNITY = "990101001001"
SHANGHAI = ZoneInfo("Asia/Shanghai")
FLAG_DAYS = {"elderly_alone": 7, "disabled": 14, "left_behind_child": 14, "low_income": 30,
             "other": 30}  # fmt: skip
DWELL = 12.0


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(demo_engine), engine=demo_engine)) as test_client:
        yield test_client


def _due_buildings(engine: Engine, start: datetime, within_days: int) -> dict[str, set[str]]:
    """Building code → households due at ``start``, from the rows, in the community."""
    with engine.connect() as conn:
        households = conn.execute(
            text(
                "SELECT h.code, b.code AS building, h.care, h.visit_every_days "
                "FROM households h JOIN buildings b ON b.id = h.building_id "
                "WHERE h.moved_out_at IS NULL"
            )
        ).all()
        met: dict[str, datetime] = dict(
            conn.execute(
                text(
                    "SELECT h.code, max(v.visited_at) FROM household_visits v "
                    "JOIN households h ON h.id = v.household_id "
                    "WHERE v.outcome = 'met' AND v.visited_at <= :start GROUP BY h.code"
                ),
                {"start": start},
            ).all()
        )
        buildings = gpd.read_postgis("SELECT code, geom FROM buildings", conn, geom_col="geom")
        community = gpd.read_postgis(
            text("SELECT geom FROM communities WHERE code = :c").bindparams(c=COMMUNITY),
            conn,
            geom_col="geom",
        ).geometry.iloc[0]  # fmt: skip
    inside = {
        code
        for code, geom in zip(buildings["code"], buildings.geometry, strict=True)
        if community.intersects(shapely.point_on_surface(geom))
    }
    today: date = start.astimezone(SHANGHAI).date()
    due: dict[str, set[str]] = defaultdict(set)
    for code, building, care, every in households:
        days = every or min((FLAG_DAYS[f] for f in care), default=None)
        if days is None or building not in inside:
            continue
        last = met.get(code)
        deadline = None if last is None else last.astimezone(SHANGHAI).date() + timedelta(days)
        if deadline is None or deadline < today + timedelta(days=within_days):
            due[building].add(code)
    return due


@pytest.mark.parametrize("within_days", [0, 7])
def test_care_stops_are_the_buildings_with_due_households(
    client: TestClient, demo_engine: Engine, within_days: int
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    with demo_engine.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM communities, ST_PointOnSurface(geom) p "
                 "WHERE code = :c"), {"c": COMMUNITY},
        ).one()  # fmt: skip
    admin = account_headers(demo_engine, "root", "admin")
    request = {
        "start_at": start.isoformat(),
        "time_limit_s": 1,
        "patrollers": [{"name": "Wang", "start": {"lon": lon, "lat": lat}, "shift_minutes": 240}],
        "stops": {
            "care_visits": {"due_within_days": within_days, "dwell_minutes": DWELL},
            "communities": [COMMUNITY],
        },
    }
    planned = client.post("/patrols/plan", json=request, headers=admin)
    assert planned.status_code == 201, planned.text
    plan = planned.json()
    served = [s for r in plan["routes"] for s in r["stops"] if s["kind"] == "care_visit"]
    unserved = [s for s in plan["unserved"] if s["kind"] == "care_visit"]
    expected = _due_buildings(demo_engine, start, within_days)
    assert len(expected) >= 5
    assert sorted(s["ref"] for s in served + unserved) == sorted(expected)
    assert served, "a 4-hour shift serves some of them"
    for stop in served:
        households = expected[stop["ref"]]
        minutes = (
            datetime.fromisoformat(stop["depart_at"]) - datetime.fromisoformat(stop["arrive_at"])
        ).total_seconds() / 60
        assert minutes >= DWELL * len(households) - 0.01
        assert all(code in stop["label"] for code in households)
    if within_days == 0:
        # Every household of a care stop is overdue: none of them has a head's name here.
        with demo_engine.connect() as conn:
            names = conn.execute(text("SELECT head_name FROM households")).scalars().all()
        assert not any(name in planned.text for name in names if name)


def test_care_visits_alone_is_a_kind_of_stop_and_checked(
    client: TestClient, demo_engine: Engine
) -> None:
    admin = account_headers(demo_engine, "root", "admin")
    base = {"patrollers": [{"name": "Wang", "start": {"lon": 104.05, "lat": 30.66}}]}
    bad = client.post(
        "/patrols/plan",
        json=base | {"stops": {"care_visits": {"due_within_days": -1}}},
        headers=admin,
    )
    assert bad.status_code == 422 and "due_within_days" in bad.text
