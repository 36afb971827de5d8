"""The cadence: defaults from the care flags, never-met households, and deadlines counted on
the local calendar across time-zone, month, leap-year and daylight-saving edges; only a
``met`` visit resets it. Expected days come from Python's calendar, not from the SQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gis.households.listing import HouseholdFilter, list_households, overdue_buildings_geojson
from tests.gis.households.conftest import Town

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")


def status(town: Town, now: datetime, zone: tzinfo = SHANGHAI, **filters: Any) -> dict[str, Any]:
    with town.engine.connect() as conn:
        page = list_households(
            conn,
            filters=HouseholdFilter(**filters),
            now=now,
            zone=zone,
            scopes=None,
            limit=1000,
            offset=0,
        )
    return {h["code"]: h for h in page["households"]}


def expected_due(met_at: str, days: int, zone: tzinfo) -> date:
    return datetime.fromisoformat(met_at).astimezone(zone).date() + timedelta(days=days)


def test_cadence_defaults_from_the_flags(town: Town) -> None:
    b = town.building
    town.load(
        f"E,{b},1,a,,1,elderly_alone;low_income,\n"
        f"D,{b},2,a,,1,disabled,\n"
        f"L,{b},3,a,,1,left_behind_child,\n"
        f"I,{b},4,a,,1,low_income,\n"
        f"O,{b},5,a,,1,other,\n"
        f"N,{b},6,a,,1,,\n"
        f"X,{b},7,a,,1,elderly_alone,10\n"
        f"Y,{b},8,a,,1,,21\n"
    )
    now = datetime(2026, 6, 1, 12, tzinfo=SHANGHAI)
    shown = status(town, now)
    assert {code: h["visit_every_days"] for code, h in shown.items()} == {
        "E": 7, "D": 14, "L": 14, "I": 30, "O": 30, "N": None, "X": 10, "Y": 21,
    }  # fmt: skip
    # Never met: every household with a cadence is overdue; the one without never is.
    assert {code for code, h in shown.items() if h["overdue"]} == set("EDLIOXY")
    assert shown["E"]["days_overdue"] == 7 and shown["N"]["days_overdue"] is None
    assert set(status(town, now, due="overdue")) == set("EDLIOXY")


@pytest.mark.parametrize(
    ("met_at", "zone", "days", "last_on_time", "first_late"),
    [
        # 00:30 on 1 March in Shanghai is still 28 February in UTC: the local day counts.
        (
            "2026-03-01T00:30:00+08:00",
            SHANGHAI,
            7,
            "2026-03-08T23:59:00+08:00",
            "2026-03-09T00:01:00+08:00",
        ),
        # The same instant read in UTC: one day earlier.
        (
            "2026-03-01T00:30:00+08:00",
            UTC,
            7,
            "2026-03-07T23:59:00+00:00",
            "2026-03-08T00:01:00+00:00",
        ),
        # Month edges: 31 January + 30 days is 2 March, and 1 March in a leap year.
        (
            "2025-01-31T10:00:00+08:00",
            SHANGHAI,
            30,
            "2025-03-02T23:00:00+08:00",
            "2025-03-03T00:00:00+08:00",
        ),
        (
            "2024-01-31T10:00:00+08:00",
            SHANGHAI,
            30,
            "2024-03-01T23:00:00+08:00",
            "2024-03-02T00:00:00+08:00",
        ),
        # Year edge, late evening on New Year's Eve.
        (
            "2025-12-31T23:50:00+08:00",
            SHANGHAI,
            7,
            "2026-01-07T23:59:00+08:00",
            "2026-01-08T00:00:00+08:00",
        ),
        # Daylight saving starts on 8 March 2026 in New York: days, not 24-hour periods.
        (
            "2026-03-07T23:30:00-05:00",
            NEW_YORK,
            7,
            "2026-03-14T23:30:00-04:00",
            "2026-03-15T00:10:00-04:00",
        ),
    ],
)
def test_deadline_on_the_local_calendar(
    town: Town, met_at: str, zone: tzinfo, days: int, last_on_time: str, first_late: str
) -> None:
    flag = "elderly_alone" if days == 7 else "low_income"
    town.load(f"H1,{town.building},1,a,,1,{flag},\n")
    town.visit("H1", met_at)
    due_on = expected_due(met_at, days, zone)
    before = status(town, datetime.fromisoformat(last_on_time), zone)["H1"]
    assert before["due_on"] == due_on and before["overdue"] is False
    assert before["last_met_at"] == datetime.fromisoformat(met_at)
    after = status(town, datetime.fromisoformat(first_late), zone)["H1"]
    assert after["due_on"] == due_on and after["overdue"] is True
    assert after["days_overdue"] == 1
    assert datetime.fromisoformat(last_on_time).astimezone(zone).date() == due_on


def test_only_met_resets_the_cadence(town: Town) -> None:
    town.load(f"H1,{town.building},1,a,,1,elderly_alone,\n")
    town.visit("H1", "2026-05-01T10:00:00+08:00", "met")
    town.visit("H1", "2026-05-06T10:00:00+08:00", "not_home")
    town.visit("H1", "2026-05-07T10:00:00+08:00", "refused")
    shown = status(town, datetime(2026, 5, 9, 9, tzinfo=SHANGHAI))["H1"]
    assert shown["due_on"] == date(2026, 5, 8) and shown["overdue"] is True
    assert shown["last_visit_at"] == datetime(2026, 5, 7, 10, tzinfo=SHANGHAI)
    assert shown["days_overdue"] == 1
    town.visit("H1", "2026-05-09T08:00:00+08:00", "met")
    shown = status(town, datetime(2026, 5, 9, 9, tzinfo=SHANGHAI))["H1"]
    assert shown["due_on"] == date(2026, 5, 16) and shown["overdue"] is False
    # A visit after "now" is not counted yet.
    earlier = status(town, datetime(2026, 5, 8, 9, tzinfo=SHANGHAI))["H1"]
    assert earlier["due_on"] == date(2026, 5, 8)


def test_due_this_week_and_filters(town: Town) -> None:
    b, other = town.building, town.other_building
    town.load(
        f"SOON,{b},1,a,,1,elderly_alone,\n"
        f"LATER,{b},2,a,,1,low_income,\n"
        f"LATE,{other},3,a,,1,disabled,\n"
        f"NONE,{other},4,a,,1,,\n"
    )
    now = datetime(2026, 7, 10, 12, tzinfo=SHANGHAI)
    town.visit("SOON", "2026-07-05T10:00:00+08:00")  # due 12 July
    town.visit("LATER", "2026-07-01T10:00:00+08:00")  # due 31 July
    town.visit("LATE", "2026-06-20T10:00:00+08:00")  # due 4 July: overdue
    assert set(status(town, now, due="overdue")) == {"LATE"}
    assert set(status(town, now, due="week")) == {"LATE", "SOON"}
    assert set(status(town, now, care=("low_income", "elderly_alone"))) == {"SOON", "LATER"}
    assert set(status(town, now, building_code=other)) == {"LATE", "NONE"}
    assert set(status(town, now, grid_code=town.grid)) == {"SOON", "LATER", "LATE", "NONE"}
    # The most overdue first: past deadlines, then the coming ones, then no cadence.
    assert list(status(town, now)) == ["LATE", "SOON", "LATER", "NONE"]


def test_overdue_buildings_for_the_map_are_counts(town: Town) -> None:
    b, other = town.building, town.other_building
    town.load(
        f"A,{b},1,Secret Name,13000000000,1,elderly_alone,\n"
        f"B,{b},2,a,,1,disabled,\n"
        f"C,{other},3,a,,1,low_income,\n"
        f"D,{other},4,a,,1,,\n"
    )
    now = datetime(2026, 7, 10, 12, tzinfo=SHANGHAI)
    town.visit("B", "2026-07-01T10:00:00+08:00")  # due 15 July
    town.visit("C", "2026-07-01T10:00:00+08:00")  # due 31 July
    with town.engine.connect() as conn:
        overdue = overdue_buildings_geojson(conn, now=now, zone=SHANGHAI)
        soon = overdue_buildings_geojson(conn, now=now, zone=SHANGHAI, within_days=7)
    assert [f["properties"] for f in overdue["features"]] == [
        {"code": b, "grid_code": town.grid, "overdue": 1, "households": 2}
    ]
    assert {f["properties"]["code"]: f["properties"]["overdue"] for f in soon["features"]} == {b: 2}
    assert "Secret Name" not in str(overdue) and "13000000000" not in str(overdue)
