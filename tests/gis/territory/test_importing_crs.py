"""Wrong-CRS GeoPackages are refused naming the likely mistake (issue 22, item 4): degrees
labelled as a metric CRS, an undefined srs_id, features landing outside the city; ``--force``
takes them anyway. Through the CLI (``gridpatrol load``) on a real PostGIS."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import TEST_SECRET_KEY

runner = CliRunner()
# A district-sized square of the demo city, in degrees.
SQUARE = [(104.00, 30.60), (104.10, 30.60), (104.10, 30.70), (104.00, 30.70)]


def _env(engine: Engine) -> dict[str, str]:
    return {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "GRIDPATROL_TILE_URL": "",
        "GRIDPATROL_SECRET_KEY": TEST_SECRET_KEY,
    }


def _gpkg(path: Path, coords: list[tuple[float, float]], crs: object, code: str) -> Path:
    frame = gpd.GeoDataFrame(
        {"code": [code], "name": ["wrong crs"]}, geometry=[Polygon(coords)], crs=crs
    )
    pyogrio.write_dataframe(frame, path, layer="districts")
    return path


def _load(engine: Engine, path: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["load", str(path), "--layer", "districts", *extra], env=_env(engine)
    )
    return result.exit_code, result.output


def _districts(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM districts")).scalar_one())


@pytest.mark.parametrize("epsg", [3857, 32648])
def test_degrees_labelled_as_metres_are_refused_on_a_first_import(
    empty_engine: Engine, tmp_path: Path, epsg: int
) -> None:
    path = _gpkg(tmp_path / "d.gpkg", SQUARE, epsg, "990199")
    code, output = _load(empty_engine, path)
    assert code != 0
    assert f"EPSG:{epsg}" in output and "look like longitude/latitude degrees" in output
    assert "--force" in output
    assert _districts(empty_engine) == 0  # nothing written (no null-island district)
    forced, _ = _load(empty_engine, path, "--force")
    assert forced == 0 and _districts(empty_engine) == 1


def test_an_undefined_srs_id_is_refused(empty_engine: Engine, tmp_path: Path) -> None:
    path = _gpkg(tmp_path / "d.gpkg", SQUARE, 4326, "990199")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gpkg_geometry_columns SET srs_id = 0")
        db.execute("UPDATE gpkg_contents SET srs_id = 0")
    code, output = _load(empty_engine, path)
    assert code != 0 and "undefined CRS" in output and "srs_id" in output
    assert _districts(empty_engine) == 0


def test_features_outside_the_city_are_refused_naming_the_distance(
    city_engine: Engine, tmp_path: Path
) -> None:
    """Real metres of the wrong UTM zone (labelled 32647, written in 32648): they reproject
    to a plausible place six degrees west, hundreds of kilometres from the city."""
    to_utm48 = Transformer.from_crs(4326, 32648, always_xy=True)
    metres = [to_utm48.transform(lon, lat) for lon, lat in SQUARE]
    path = _gpkg(tmp_path / "d.gpkg", metres, 32647, "990199")
    before = _districts(city_engine)
    code, output = _load(city_engine, path)
    assert code != 0
    assert "1 of 1 features lie outside the city" in output
    assert "EPSG:32647" in output and "probably wrong" in output
    distance_km = float(output.split(" km away")[0].split()[-1].replace(",", ""))
    assert 500 < distance_km < 700  # one UTM zone (6° of longitude at 30°N) off
    assert _districts(city_engine) == before
    # The same square in its right CRS lies in the city and imports.
    right = _gpkg(tmp_path / "right.gpkg", metres, 32648, "990199")
    ok, output = _load(city_engine, right)
    assert ok == 0, output
    assert _districts(city_engine) == before + 1
