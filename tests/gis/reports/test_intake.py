"""Report intake: location against shapely, unlocated points, deadlines, duplicates, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from data import DEMO_DIR
from gis.core.errors import Conflict, InvalidInput
from gis.reports.intake import ReportInput, submit_report
from gis.reports.lifecycle import transition_report
from gis.reports.listing import ReportFilter, list_reports
from tests.conftest import CATEGORIES

METRIC_CRS = "EPSG:32648"


def _submit(engine: Engine, lat: float, lon: float, **kwargs: Any) -> dict[str, Any]:
    category = str(kwargs.pop("category", "sanitation"))
    with engine.begin() as conn:
        return submit_report(
            conn,
            ReportInput(lat=lat, lon=lon, category=category, description="test"),
            **kwargs,
            categories=CATEGORIES,
        ).report


def _containing(frame: gpd.GeoDataFrame, points: gpd.GeoSeries) -> list[set[str]]:
    tree = frame.sindex
    hits = tree.query(points.values, predicate="intersects")
    found: list[set[str]] = [set() for _ in range(len(points))]
    for p, f in hits.T:
        found[p].add(frame["code"].iloc[f])
    return found


def test_location_equals_shapely_point_in_polygon(city_engine: Engine) -> None:
    rng = np.random.default_rng(4)
    minx, miny, maxx, maxy = gpd.read_file(DEMO_DIR / "districts.geojson").total_bounds
    # Some points beyond the city so that "outside everything" is checked too.
    lons = rng.uniform(minx - 0.002, maxx + 0.002, 150).round(7)
    lats = rng.uniform(miny - 0.002, maxy + 0.002, 150).round(7)
    points = gpd.GeoSeries(shapely.points(lons, lats), crs=4326)
    layers = {
        name: gpd.read_file(DEMO_DIR / f"{name}.geojson")
        for name in ("districts", "subdistricts", "communities", "grids")
    }
    expected = {name: _containing(frame, points) for name, frame in layers.items()}
    buildings = gpd.read_file(DEMO_DIR / "buildings.geojson").to_crs(METRIC_CRS)
    metric_points = points.to_crs(METRIC_CRS)
    nearest_idx, distance_m = buildings.sindex.nearest(
        metric_points.values, return_distance=True, return_all=False
    )
    reports = [
        _submit(city_engine, float(lat), float(lon)) for lat, lon in zip(lats, lons, strict=True)
    ]
    checked_buildings = 0
    for i, report in enumerate(reports):
        location = report["location"]
        assert isinstance(location, dict)
        for name, column in (
            ("districts", "district_code"),
            ("subdistricts", "subdistrict_code"),
            ("communities", "community_code"),
            ("grids", "grid_code"),
        ):
            if expected[name][i]:
                assert location[column] in expected[name][i], (name, lons[i], lats[i])
            else:
                assert location[column] is None, (name, lons[i], lats[i])
        assert report["located"] is bool(expected["grids"][i])
        d = float(distance_m[i])
        # UTM and the spheroid differ by far less than a metre here; skip the knife edge.
        if abs(d - 30.0) < 0.5:
            continue
        if d > 30.0:
            assert location["building_code"] is None
        else:
            nearest = buildings["code"].iloc[nearest_idx[1][i]]
            assert location["building_distance_m"] == pytest.approx(d, abs=0.5)
            if d > 0.5:  # ties (touching footprints) may pick either
                assert location["building_code"] == nearest
            checked_buildings += 1
    assert checked_buildings > 30
    assert any(not r["located"] for r in reports)


def test_point_outside_every_grid_is_stored_unlocated(city_engine: Engine) -> None:
    report = _submit(city_engine, 30.60, 104.00)
    assert report["located"] is False
    assert report["location"]["grid_code"] is None
    assert report["status"] == "reported"
    assert report["due_arrival_at"] is not None
    with city_engine.connect() as conn:
        queue = list_reports(conn, filters=ReportFilter(located=False))
    assert [f["id"] for f in queue["features"]] == [report["id"]]


def test_deadlines_cross_the_day_boundary(city_engine: Engine) -> None:
    late = datetime(2026, 3, 1, 23, 55, tzinfo=UTC)
    routine = _submit(city_engine, 30.66, 104.06, reported_at=late)
    repair = _submit(city_engine, 30.66, 104.07, category="building_leak", reported_at=late)
    assert routine["due_arrival_at"] == "2026-03-02T00:05:00+00:00"
    assert routine["due_resolution_at"] == "2026-03-02T00:55:00+00:00"
    assert repair["due_resolution_at"] == "2026-03-08T23:55:00+00:00"
    with city_engine.connect() as conn:

        def overdue_ids(as_of: datetime) -> list[object]:
            page = list_reports(conn, filters=ReportFilter(overdue=True), as_of=as_of)
            return sorted(f["id"] for f in page["features"])

        assert overdue_ids(late + timedelta(minutes=9)) == []
        # Both are past their 10-minute arrival deadline just after midnight.
        assert overdue_ids(late + timedelta(minutes=11)) == sorted([routine["id"], repair["id"]])
    with city_engine.begin() as conn:
        for action in ("accept", "dispatch", "arrive"):
            transition_report(conn, int(str(routine["id"])), action=action, actor="t")
    with city_engine.connect() as conn:
        page = list_reports(
            conn, filters=ReportFilter(overdue=True), as_of=late + timedelta(minutes=11)
        )
        assert [f["id"] for f in page["features"]] == [repair["id"]]
        # The routine one is still late to be resolved after its one hour.
        page = list_reports(
            conn, filters=ReportFilter(overdue=True), as_of=late + timedelta(hours=2)
        )
        assert sorted(f["id"] for f in page["features"]) == sorted([routine["id"], repair["id"]])


def test_duplicates_are_flagged_within_50_m_and_24_h(city_engine: Engine) -> None:
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    first = _submit(city_engine, 30.66, 104.06, reported_at=t0)
    # ~20 m north: the same problem.
    near = _submit(city_engine, 30.66018, 104.06, reported_at=t0 + timedelta(hours=2))
    assert near["likely_duplicate_of"] == first["id"]
    # ~80 m away, another category, or more than a day after every open one: not duplicates.
    far = _submit(city_engine, 30.66072, 104.06, reported_at=t0 + timedelta(hours=2))
    other = _submit(
        city_engine, 30.66, 104.06, category="parking", reported_at=t0 + timedelta(hours=2)
    )
    later = _submit(city_engine, 30.66, 104.06, reported_at=t0 + timedelta(hours=27))
    assert far["likely_duplicate_of"] is None
    assert other["likely_duplicate_of"] is None
    assert later["likely_duplicate_of"] is None
    # Linked, not merged: both stay; the dispatcher confirms.
    with city_engine.begin() as conn:
        confirmed = transition_report(
            conn, int(str(near["id"])), action="confirm_duplicate", actor="dispatcher"
        )
    assert confirmed["status"] == "duplicate"
    assert confirmed["likely_duplicate_of"] == first["id"]
    # A closed original is no longer open: a new report there is not its duplicate.
    with city_engine.begin() as conn:
        transition_report(conn, int(str(first["id"])), action="reject", actor="d", note="fixed")
    again = _submit(city_engine, 30.66, 104.06, reported_at=t0 + timedelta(hours=3))
    assert again["likely_duplicate_of"] is None


def test_same_idempotency_key_returns_the_first_report(city_engine: Engine) -> None:
    first = _submit(city_engine, 30.66, 104.06, idempotency_key="k-1")
    again = _submit(city_engine, 30.66, 104.06, idempotency_key="k-1")
    assert again["id"] == first["id"]
    with pytest.raises(Conflict, match="different request"):
        _submit(city_engine, 30.65, 104.06, idempotency_key="k-1")
    with city_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports")).scalar_one() == 1
        events = conn.execute(text("SELECT count(*) FROM report_events")).scalar_one()
    assert events == 1


@pytest.mark.parametrize(
    ("lat", "lon", "category", "field"),
    [
        (91.0, 104.0, "sanitation", "lat"),
        (30.0, 181.0, "sanitation", "lon"),
        (30.0, 104.0, "unicorns", "category"),
    ],
)
def test_bad_input_names_the_field(
    empty_engine: Engine, lat: float, lon: float, category: str, field: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^{field}:"), empty_engine.begin() as conn:
        submit_report(
            conn,
            ReportInput(lat=lat, lon=lon, category=category, description="x"),
            categories=CATEGORIES,
        )
