"""Bulk import of report history: located like an independent shapely join, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text

from gis.core.errors import ImportRejected
from gis.reports.history import import_report_file
from tests.conftest import CATEGORIES


@pytest.fixture
def city(city_engine: Engine) -> Engine:
    """The demo city without its report history."""
    return city_engine


def _history(engine: Engine, n: int = 600) -> pd.DataFrame:
    """Random points over the demo city, half of them inside buildings."""
    with engine.connect() as conn:
        buildings = gpd.read_postgis("SELECT id, geom FROM buildings ORDER BY id", conn)
        minx, miny, maxx, maxy = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom)::geometry e FROM districts) s"
            )
        ).one()
    rng = np.random.default_rng(3)
    inside = shapely.point_on_surface(buildings.geometry.values[rng.choice(len(buildings), n // 2)])
    lon = np.concatenate([shapely.get_x(inside), rng.uniform(minx - 0.01, maxx, n - n // 2)])
    lat = np.concatenate([shapely.get_y(inside), rng.uniform(miny, maxy, n - n // 2)])
    return pd.DataFrame(
        {
            "lon": lon.round(7),
            "lat": lat.round(7),
            "category": rng.choice(["sanitation", "parking", "road_damage"], n),
            "reported_at": pd.date_range(
                "2025-01-01", periods=n, freq="37min", tz="Asia/Shanghai"
            ).strftime("%Y-%m-%dT%H:%M:%S%z"),
            "description": [f"report {k}" for k in range(n)],
        }
    )


def _expected(engine: Engine, points: gpd.GeoDataFrame) -> pd.DataFrame:
    """Grid, district and building of each point by shapely, independently of PostGIS."""
    out = pd.DataFrame(index=points.index)
    with engine.connect() as conn:
        for name, sql in (
            ("grid_code", "SELECT code AS key, geom FROM grids"),
            ("district_code", "SELECT code AS key, geom FROM districts"),
            ("building_id", "SELECT id AS key, geom FROM buildings"),
        ):
            polygons = gpd.read_postgis(sql, conn)
            hit = gpd.sjoin(points, polygons, how="left", predicate="intersects")
            out[name] = hit.groupby(level=0)["key"].min()
    return out


def test_csv_history_is_located_like_an_independent_join(city: Engine, tmp_path: Path) -> None:
    history = _history(city)
    path = tmp_path / "history.csv"
    history.to_csv(path, index=False)
    with city.begin() as conn:
        result = import_report_file(conn, path, categories=CATEGORIES)
    assert (result.features, result.inserted) == (len(history), len(history))
    with city.connect() as conn:
        stored = pd.read_sql(
            "SELECT description, grid_code, district_code, building_id, community_code, "
            "status, located FROM reports",
            conn,
        ).set_index("description")
        grid_community: dict[str, str] = dict(
            conn.execute(text("SELECT code, community_code FROM grids")).all()
        )
    points = gpd.GeoDataFrame(
        history[["description"]], geometry=gpd.points_from_xy(history.lon, history.lat), crs=4326
    )
    expected = _expected(city, points).set_index(history["description"])
    stored = stored.loc[expected.index]
    assert (stored["grid_code"].fillna("") == expected["grid_code"].fillna("")).all()
    assert (stored["district_code"].fillna("") == expected["district_code"].fillna("")).all()
    assert (stored["building_id"].fillna(-1) == expected["building_id"].fillna(-1)).all()
    assert stored["building_id"].notna().sum() >= len(history) // 2
    with_grid = stored["grid_code"].notna()
    assert (
        stored.loc[with_grid, "community_code"]
        == stored.loc[with_grid, "grid_code"].map(grid_community)
    ).all()
    assert (stored["status"] == "reported").all()
    assert stored["located"].sum() == expected["district_code"].notna().sum()


def test_reimporting_the_same_history_duplicates_nothing(city: Engine, tmp_path: Path) -> None:
    history = _history(city, 50)
    history = pd.concat([history, history.iloc[:3]])  # identical rows are separate reports
    path = tmp_path / "history.csv"
    history.to_csv(path, index=False)
    with city.begin() as conn:
        first = import_report_file(conn, path, categories=CATEGORIES)
    with city.begin() as conn:
        again = import_report_file(conn, path, categories=CATEGORIES)
        count = conn.execute(text("SELECT count(*) FROM reports")).scalar_one()
    assert first.inserted == 53
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 53)
    assert count == 53


def test_geojson_history_with_status_and_closing_time(city: Engine, tmp_path: Path) -> None:
    history = _history(city, 40)
    frame = gpd.GeoDataFrame(
        history.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(history.lon, history.lat),
        crs=4326,
    ).to_crs(32648)  # any CRS: reprojected on import
    frame["closed_at"] = ["2025-12-31T00:00:00+08:00"] * 20 + [None] * 20
    frame["status"] = ["verified"] + [""] * 39
    path = tmp_path / "history.geojson"
    frame.to_file(path)
    with city.begin() as conn:
        assert import_report_file(conn, path, categories=CATEGORIES).inserted == 40
        statuses: dict[str, int] = dict(
            conn.execute(text("SELECT status, count(*) FROM reports GROUP BY status")).all()
        )
    assert statuses == {"verified": 1, "closed": 19, "reported": 20}


def test_a_bad_row_rejects_the_whole_file(city: Engine, tmp_path: Path) -> None:
    history = _history(city, 20)
    history["closed_at"] = ""
    history.loc[3, "category"] = "graffiti"
    history.loc[5, "reported_at"] = "yesterday"
    history.loc[7, "closed_at"] = "2024-01-01T00:00:00Z"
    history.loc[9, "lon"] = np.nan
    history.loc[11, "status"] = "lost"
    path = tmp_path / "history.csv"
    history.to_csv(path, index=False)
    with city.begin() as conn, pytest.raises(ImportRejected) as caught:
        import_report_file(conn, path, categories=CATEGORIES)
    detail = caught.value.detail
    assert "nothing was imported" in detail
    assert "row 4 (line 5): unknown category 'graffiti'" in detail
    assert "row 6 (line 7): reported_at 'yesterday' is not an ISO 8601 time" in detail
    assert "row 8 (line 9): closed_at before reported_at" in detail
    assert "row 10 (line 11): missing or empty geometry" in detail
    assert "row 12 (line 13): unknown status 'lost'" in detail
    with city.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports")).scalar_one() == 0


def test_steps_of_a_report_are_checked_and_kept_with_its_deadlines(
    city: Engine, tmp_path: Path
) -> None:
    history = _history(city, 12)
    reported = pd.to_datetime(history["reported_at"])
    history["arrived_at"] = (reported + pd.Timedelta(minutes=7)).map(pd.Timestamp.isoformat)
    history["resolved_at"] = (reported + pd.Timedelta(minutes=50)).map(pd.Timestamp.isoformat)
    bad = history.copy()
    bad.loc[1, "arrived_at"] = (reported[1] - pd.Timedelta(minutes=1)).isoformat()
    bad.loc[2, "resolved_at"] = (reported[2] + pd.Timedelta(minutes=3)).isoformat()
    bad.loc[3, "arrived_at"] = "soon"
    path = tmp_path / "history.csv"
    bad.to_csv(path, index=False)
    with city.begin() as conn, pytest.raises(ImportRejected) as caught:
        import_report_file(conn, path, categories=CATEGORIES)
    detail = caught.value.detail
    assert "row 2 (line 3): arrived_at before reported_at" in detail
    assert "row 3 (line 4): resolved_at before arrived_at" in detail
    assert "row 4 (line 5): arrived_at 'soon' is not an ISO 8601 time" in detail
    history.to_csv(path, index=False)
    with city.begin() as conn:
        import_report_file(conn, path, categories=CATEGORIES)
        rows = conn.execute(
            text(
                "SELECT category, reported_at, arrived_at, resolved_at, due_arrival_at, "
                "due_resolution_at FROM reports ORDER BY reported_at"
            )
        ).all()
    assert len(rows) == 12
    for category, at, arrived, resolved, due_arrival, due_resolution in rows:
        minutes = CATEGORIES[category]
        assert arrived - at == pd.Timedelta(minutes=7) and resolved - at == pd.Timedelta(minutes=50)
        assert due_arrival - at == pd.Timedelta(minutes=minutes.arrival_minutes)
        assert due_resolution - at == pd.Timedelta(minutes=minutes.resolution_minutes)


def test_a_csv_without_coordinates_is_refused(city: Engine, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("category,reported_at\nsanitation,2025-01-01T00:00:00Z\n")
    with city.begin() as conn, pytest.raises(ImportRejected, match="missing column 'lon'"):
        import_report_file(conn, path, categories=CATEGORIES)
