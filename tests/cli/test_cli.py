"""The command line: exit codes, messages, and DATABASE_URL for load, demo and serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import httpx2
import pyogrio
import pytest
from shapely.geometry import Polygon
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from data import DEMO_DIR
from tests.conftest import TEST_SECRET_KEY
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _env(engine: Engine) -> dict[str, str]:
    return {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "GRIDPATROL_TILE_URL": "",
        # No key file in the working tree's .gridpatrol/.
        "GRIDPATROL_SECRET_KEY": TEST_SECRET_KEY,
    }


def test_load_with_database_url_imports_and_reports_json(empty_engine: Engine) -> None:
    result = runner.invoke(
        app,
        ["load", str(DEMO_DIR / "districts.geojson"), "--layer", "districts", "--json"],
        env=_env(empty_engine),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["inserted"] == 3
    again = runner.invoke(
        app,
        ["load", str(DEMO_DIR / "districts.geojson"), "--layer", "districts", "--json"],
        env=_env(empty_engine),
    )
    assert json.loads(again.stdout)[0]["unchanged"] == 3


def test_load_rejects_a_bad_file_with_exit_code_2(empty_engine: Engine, tmp_path: Path) -> None:
    bowtie = Polygon([(104, 30), (104.01, 30.01), (104.01, 30), (104, 30.01)])
    path = tmp_path / "bad.geojson"
    pyogrio.write_dataframe(
        gpd.GeoDataFrame({"code": ["990101"], "name": ["x"]}, geometry=[bowtie], crs=4326), path
    )
    result = runner.invoke(app, ["load", str(path), "--layer", "districts"], env=_env(empty_engine))
    assert result.exit_code == 2
    assert "feature 0 (code 990101): invalid geometry: Self-intersection" in result.stderr
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM districts")).scalar_one() == 0


def test_load_names_an_unknown_layer(empty_engine: Engine) -> None:
    result = runner.invoke(app, ["load", "x.geojson", "--layer", "parks"], env=_env(empty_engine))
    assert result.exit_code == 2
    assert "unknown layer 'parks'" in result.stderr


def test_load_names_a_missing_file(empty_engine: Engine) -> None:
    result = runner.invoke(
        app, ["load", "/nonexistent.geojson", "--layer", "grids"], env=_env(empty_engine)
    )
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_unreachable_database_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(
        app, ["demo"], env={"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/none"}
    )
    assert result.exit_code == 3
    assert "Cannot connect to the database" in result.stderr


@pytest.mark.slow
def test_serve_with_database_url_loads_the_demo_city_into_an_empty_database(
    empty_engine: Engine,
) -> None:
    port = free_port()
    env = os.environ | _env(empty_engine)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx2.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.3)
        grids = httpx2.get(f"http://127.0.0.1:{port}/grids", params={"limit": 1000}).json()
        expected = len(gpd.read_file(DEMO_DIR / "grids.geojson"))
        assert grids["numberMatched"] == expected == len(grids["features"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout:
            proc.stdout.close()
