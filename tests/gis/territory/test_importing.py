"""File import: any CRS and format in, all-or-nothing, errors naming feature and reason."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from sqlalchemy import Engine, text

from data import DEMO_DIR
from gis.core.errors import ImportRejected
from gis.territory.importing import import_file
from tests.conftest import count_features

SQUARE = Polygon([(104.0, 30.0), (104.01, 30.0), (104.01, 30.01), (104.0, 30.01)])
BOWTIE = Polygon([(104.0, 30.0), (104.01, 30.01), (104.01, 30.0), (104.0, 30.01)])


def _districts(
    tmp_path: Path,
    rows: list[dict[str, object]],
    crs: object = 4326,
    name: str = "districts.geojson",
) -> Path:
    frame = gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k != "geometry"} for r in rows],
        geometry=[r["geometry"] for r in rows],
        crs=crs,
    )
    path = tmp_path / name
    pyogrio.write_dataframe(frame, path)
    return path


def _load(engine: Engine, path: Path, layer: str) -> None:
    with engine.begin() as conn:
        import_file(conn, path, layer=layer)


def _snapshot(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return count_features(conn)


def test_a_clean_file_imports_and_a_second_import_changes_nothing(
    empty_engine: Engine, tmp_path: Path
) -> None:
    path = _districts(tmp_path, [{"code": "990101", "name": "甲区", "geometry": SQUARE}])
    with empty_engine.begin() as conn:
        first = import_file(conn, path, layer="districts")
    with empty_engine.begin() as conn:
        second = import_file(conn, path, layer="districts")
    assert (first.inserted, first.updated) == (1, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 1)
    assert _snapshot(empty_engine)["districts"] == 1


def test_a_changed_file_updates_by_code(empty_engine: Engine, tmp_path: Path) -> None:
    _load(
        empty_engine,
        _districts(tmp_path, [{"code": "990101", "name": "甲区", "geometry": SQUARE}]),
        "districts",
    )
    renamed = _districts(
        tmp_path, [{"code": "990101", "name": "乙区", "geometry": SQUARE}], name="renamed.geojson"
    )
    with empty_engine.begin() as conn:
        result = import_file(conn, renamed, layer="districts")
        name = conn.execute(text("SELECT name FROM districts")).scalar_one()
    assert result.updated == 1 and name == "乙区"


@pytest.mark.parametrize(
    ("rows", "crs", "message"),
    [
        (
            [{"code": "990101", "name": "a", "geometry": BOWTIE}],
            4326,
            r"feature 1 \(code 990101\): invalid geometry: Self-intersection",
        ),
        (
            [{"code": "990101", "name": "a", "geometry": Point(104, 30)}],
            4326,
            r"feature 1 .*wrong geometry type Point",
        ),
        (
            [
                {"code": "990101", "name": "a", "geometry": SQUARE},
                {"code": "990101", "name": "b", "geometry": SQUARE},
            ],
            4326,
            r"feature 1 \(code 990101\): duplicate code '990101'",
        ),
        ([{"code": None, "name": "a", "geometry": SQUARE}], 4326, r"feature 1: missing code"),
        (
            [{"code": "99010", "name": "a", "geometry": SQUARE}],
            4326,
            r"code '99010' must be exactly 6 digits",
        ),
        (
            [
                {
                    "code": "990101",
                    "name": "a",
                    "geometry": Polygon([(500000, 3390000), (500100, 3390000), (500100, 3390100)]),
                }
            ],
            4326,
            r"coordinates out of range",
        ),
        ([{"code": "990101", "name": None, "geometry": SQUARE}], 4326, r"missing name"),
    ],
    ids=[
        "bow-tie",
        "wrong-type",
        "duplicate-code",
        "missing-code",
        "malformed-code",
        "out-of-range",
        "missing-name",
    ],
)
def test_bad_features_reject_the_whole_file_and_store_nothing(
    empty_engine: Engine, tmp_path: Path, rows: list[dict[str, object]], crs: object, message: str
) -> None:
    # A good feature first: the error must name the bad one (index 1), not the first.
    good = {"code": "990102", "name": "好区", "geometry": SQUARE}
    path = _districts(tmp_path, [good, *rows])
    with pytest.raises(ImportRejected, match=message):
        _load(empty_engine, path, "districts")
    assert _snapshot(empty_engine)["districts"] == 0


def test_parent_not_found_names_the_missing_parent(empty_engine: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"code": ["990101001"], "name": ["街道"]}, geometry=[SQUARE], crs=4326)
    path = tmp_path / "subdistricts.geojson"
    pyogrio.write_dataframe(frame, path)
    with pytest.raises(ImportRejected, match=r"parent not found: no district with code '990101'"):
        _load(empty_engine, path, "subdistricts")
    assert _snapshot(empty_engine)["subdistricts"] == 0


def test_unknown_crs_is_refused(empty_engine: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"code": ["990101"], "name": ["a"]}, geometry=[SQUARE], crs=None)
    path = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        pyogrio.write_dataframe(frame, path)
    with pytest.raises(ImportRejected, match="unknown CRS"):
        _load(empty_engine, path, "districts")


def test_unreadable_file_is_refused(empty_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text("{ not json")
    with pytest.raises(ImportRejected, match="not a readable"):
        _load(empty_engine, path, "districts")


def test_a_failure_in_a_later_layer_keeps_what_was_stored(
    demo_engine: Engine, tmp_path: Path
) -> None:
    before = _snapshot(demo_engine)
    with demo_engine.connect() as conn:
        names: dict[str, str] = dict(conn.execute(text("SELECT code, name FROM grids")).all())
    bad = gpd.read_file(DEMO_DIR / "grids.geojson")
    bad["name"] = "renamed"
    bad.loc[5, "geometry"] = BOWTIE
    path = tmp_path / "grids.gpkg"
    pyogrio.write_dataframe(bad, path)
    with pytest.raises(ImportRejected, match=r"feature 5 \(code \d{15}\): invalid geometry"):
        _load(demo_engine, path, "grids")
    assert _snapshot(demo_engine) == before
    with demo_engine.connect() as conn:
        assert dict(conn.execute(text("SELECT code, name FROM grids")).all()) == names


def test_projected_shapefile_and_geopackage_are_reprojected(
    empty_engine: Engine, tmp_path: Path
) -> None:
    districts = gpd.read_file(DEMO_DIR / "districts.geojson")
    utm = districts.to_crs(32648)
    shp = tmp_path / "districts.shp"
    pyogrio.write_dataframe(utm, shp, encoding="UTF-8")
    _load(empty_engine, shp, "districts")
    subdistricts = gpd.read_file(DEMO_DIR / "subdistricts.geojson").to_crs(3857)
    gpkg = tmp_path / "subdistricts.gpkg"
    pyogrio.write_dataframe(subdistricts, gpkg)
    _load(empty_engine, gpkg, "subdistricts")
    with empty_engine.connect() as conn:
        stored = gpd.read_postgis(
            "SELECT code, name, geom FROM districts ORDER BY code", conn, geom_col="geom"
        )
    assert list(stored["code"]) == list(districts["code"])
    assert list(stored["name"]) == list(districts["name"])
    # Round trip through UTM: vertices back within a millimetre or so.
    for original, back in zip(districts.geometry, stored.geometry, strict=True):
        assert shapely.hausdorff_distance(original, back) < 1e-7


def test_buildings_get_their_grid_from_location(demo_engine: Engine) -> None:
    planted = json.loads((DEMO_DIR / "planted.json").read_text())
    with demo_engine.connect() as conn:
        rows: dict[str, str | None] = dict(
            conn.execute(text("SELECT code, grid_code FROM buildings")).all()
        )
    buildings = gpd.read_file(DEMO_DIR / "buildings.geojson").to_crs(32648)
    grids = gpd.read_file(DEMO_DIR / "grids.geojson").to_crs(32648)
    overlay = gpd.overlay(
        buildings[["code", "geometry"]],
        grids[["code", "geometry"]].rename(columns={"code": "grid"}),
        how="intersection",
        keep_geom_type=True,
    )
    overlay["area"] = overlay.area
    best = overlay.sort_values("area", ascending=False).drop_duplicates("code")
    expected = dict(zip(best["code"], best["grid"], strict=True))
    for code in planted["unassigned_buildings"]:
        expected[code] = None
    assert rows == expected


def test_facility_kind_must_be_known(empty_engine: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["F1"], "kind": ["spaceport"]}, geometry=[Point(104, 30)], crs=4326
    )
    path = tmp_path / "facilities.geojson"
    pyogrio.write_dataframe(frame, path)
    with pytest.raises(ImportRejected, match="unknown facility kind 'spaceport'"):
        _load(empty_engine, path, "facilities")


def test_roads_accept_multilines_and_reimport_without_duplicates(
    empty_engine: Engine, tmp_path: Path
) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["甲路", "乙路"]},
        geometry=[
            LineString([(104, 30), (104.01, 30)]),
            shapely.MultiLineString(
                [[(104, 30.01), (104.01, 30.01)], [(104.02, 30.01), (104.03, 30.01)]]
            ),
        ],
        crs=4326,
    )
    path = tmp_path / "roads.geojson"
    pyogrio.write_dataframe(frame, path)
    _load(empty_engine, path, "roads")
    _load(empty_engine, path, "roads")
    with empty_engine.connect() as conn:
        count, length = conn.execute(text("SELECT count(*), sum(length_m) FROM roads")).one()
    assert count == 3
    expected = gpd.GeoSeries(frame.explode().geometry, crs=4326).to_crs(32648).length.sum()
    assert abs(length - expected) / expected < 0.005


def test_multipoint_facility_is_the_wrong_type(empty_engine: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["F1"], "kind": ["camera"]},
        geometry=[MultiPoint([(104, 30), (104.1, 30)])],
        crs=4326,
    )
    path = tmp_path / "facilities.geojson"
    pyogrio.write_dataframe(frame, path)
    with pytest.raises(ImportRejected, match="wrong geometry type MultiPoint"):
        _load(empty_engine, path, "facilities")
