"""``gridpatrol hotspots``, ``map hotspots`` and ``load --layer reports`` end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from gis.core.settings import get_settings
from tests.conftest import demo_iso

runner = CliRunner()


def _use(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GRIDPATROL_TILE_URL", "")
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


def test_hotspots_json_and_table(
    shared_demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(shared_demo_engine, monkeypatch)
    result = runner.invoke(app, ["hotspots", "--unit", "grid", "--json", "-c", "parking"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["features"]) == 68 and body["analysis"]["categories"] == ["parking"]
    window = [demo_iso("2025-01-01T00:00:00+08:00"), demo_iso("2025-07-01T00:00:00+08:00")]
    table = runner.invoke(app, ["hotspots", "--since", window[0], "--until", window[1]])
    assert table.exit_code == 0, table.output
    assert "hot spot, 99 % confidence" in table.output


def test_bad_category_exits_2_naming_it(
    shared_demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(shared_demo_engine, monkeypatch)
    result = runner.invoke(app, ["hotspots", "-c", "graffiti"])
    assert result.exit_code == 2
    assert "graffiti" in result.output


def test_map_hotspots_writes_a_standalone_page(
    shared_demo_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(shared_demo_engine, monkeypatch)
    out = tmp_path / "hot.html"
    result = runner.invoke(app, ["map", "hotspots", "-o", str(out), "-c", "sanitation"])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "gp-legend" in html and "sanitation" in html and "<script src=" not in html


def test_load_reports_layer(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(demo_engine, monkeypatch)
    path = tmp_path / "h.csv"
    path.write_text(
        "lon,lat,category,reported_at\n104.06,30.66,parking,2025-05-01T08:00:00+08:00\n"
    )
    result = runner.invoke(app, ["load", str(path), "--layer", "reports", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["inserted"] == 1
    with demo_engine.connect() as conn:
        assert conn.execute(
            text(
                "SELECT grid_code IS NOT NULL FROM reports WHERE category = 'parking' "
                "AND reported_at = '2025-05-01T00:00:00Z'"
            )
        ).scalar_one()
