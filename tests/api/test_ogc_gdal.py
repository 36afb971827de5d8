"""GDAL's OGC API Features driver, as QGIS uses it, against a real gridpatrol server: every
collection listed, every feature read with the right count, ids, attributes and geometry."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx2
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine

from api.main import create_app
from gis.tiles.registry import PUBLISHED
from tests import conftest
from tests.accounts import account_headers
from tests.conftest import fresh_database, settings_for
from tests.maps.conftest import serve

# What an anonymous GDAL client sees: the public layers (patrol routes need an account).
PUBLIC = [name for name, layer in PUBLISHED.items() if layer.public]


def _gdal(*args: str) -> str:
    if shutil.which(args[0]) is None:
        raise RuntimeError(f"{args[0]} is not installed: run scripts/setup.sh --test (gdal-bin)")
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def ogc_engine(pg_server: conftest.TestServer, templates: dict[str, str]) -> Iterator[Engine]:
    """The demo city with a stored patrol plan, so every collection has features."""
    yield from fresh_database(pg_server, templates["demo"])


@pytest.fixture(scope="module")
def server(ogc_engine: Engine) -> Iterator[str]:
    admin = account_headers(ogc_engine, "city-admin", "admin")
    with serve(create_app(settings_for(ogc_engine), engine=ogc_engine)) as url:
        plan = {
            "patrollers": [{"name": "Wang", "start": {"lon": 104.05, "lat": 30.66}}],
            "stops": {"points": [{"lon": 104.055, "lat": 30.661, "label": "gate"}]},
            "compare": False,
            "time_limit_s": 1,
        }
        response = httpx2.post(f"{url}/patrols/plan", json=plan, headers=admin, timeout=120)
        assert response.status_code == 201, response.text
        yield url


def test_ogrinfo_lists_every_collection_with_its_count(server: str, ogc_engine: Engine) -> None:
    listing = _gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server}/ogc")
    assert re.findall(r"^\d+: (\w+)", listing, flags=re.MULTILINE) == PUBLIC
    counts = _gdal("ogrinfo", "-ro", "-so", "-al", f"OAPIF:{server}/ogc")
    found = [int(n) for n in re.findall(r"^Feature Count: (\d+)", counts, flags=re.MULTILINE)]
    with ogc_engine.connect() as conn:
        expected = [
            len(gpd.read_postgis(_source_sql(name), conn, geom_col="geom")) for name in PUBLIC
        ]
    assert found == expected


def _source_sql(name: str) -> str:
    layer = PUBLISHED[name]
    where = f"WHERE {layer.where}" if layer.where else ""
    return f"SELECT {layer.feature_id} AS fid, t.geom FROM {layer.table} t {where}"


# GDAL reads the times' milliseconds and offset (+08:00) fine, and says so through pyogrio's
# error handler, which pytest reports as an unraisable warning.
@pytest.mark.filterwarnings("ignore:Non-conformant content:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ogr2ogr_reads_every_feature_with_its_geometry(
    server: str, ogc_engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "gridpatrol.gpkg"
    # 1,000 per request (the server allows 10,000): GDAL's default of 10 is slow, not wrong.
    _gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{server}/ogc", "-oo", "PAGE_SIZE=1000")
    layers = [name for name, _ in pyogrio.list_layers(out)]
    assert layers == PUBLIC
    with ogc_engine.connect() as conn:
        for name in PUBLIC:
            stored = gpd.read_postgis(_source_sql(name), conn, geom_col="geom")
            read = gpd.read_file(out, layer=name)
            assert len(read) == len(stored), name
            ids = read["id"].astype(str)
            assert sorted(ids) == sorted(stored["fid"].astype(str)), name
            by_id = dict(zip(stored["fid"].astype(str), stored.geometry, strict=True))
            for fid, geometry in zip(ids, read.geometry, strict=True):
                # GeoJSON carries 7 decimals (about a centimetre).
                assert shapely.equals_exact(
                    shapely.normalize(geometry), shapely.normalize(by_id[fid]), tolerance=1e-6
                ), (name, fid)
    grids = gpd.read_file(out, layer="grids")
    assert {"code", "name", "community_code", "buildings", "residents"} <= set(grids.columns)
    reports = gpd.read_file(out, layer="reports")
    assert not {"reporter_name", "reporter_phone", "photo_url"} & set(reports.columns)
