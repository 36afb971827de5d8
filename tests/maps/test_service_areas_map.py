"""The service-area map: served from tiles and written standalone, drawn in Chromium offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli.main import app
from gis.service_areas.gaps import find_gaps
from tests.browser import load_page

pytestmark = pytest.mark.browser


def test_served_service_area_map_draws_areas_gaps_and_sites(
    demo_server: str, shared_demo_engine: Engine, tmp_path: Path
) -> None:
    with shared_demo_engine.connect() as conn:
        gaps = find_gaps(conn)
    report = load_page(
        f"{demo_server}/maps/service-areas?new_sites=2",
        screenshot=tmp_path / "service-areas.png",
        wait_until="networkidle",
        wait_for="() => ((window.gridpatrolVector?.stats.districts || {}).features || 0) >= 3",
    )
    assert report.errors == [] and report.blocked == []
    assert report.vector["districts"]["features"] >= 3
    # 13 walk areas + 13 stations + a marker per building beyond the limit.
    assert report.counts["paths"] >= 13 + 13 + gaps.beyond_buildings
    assert report.counts["legend"] == 1 and report.counts["controls"] == 1


def test_written_service_area_map_opens_offline(
    shared_demo_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(shared_demo_engine)
    out = tmp_path / "service-areas.html"
    result = CliRunner().invoke(app, ["map", "service-areas", "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "15分钟生活圈" in html
    report = load_page(out.as_uri())
    assert report.errors == [] and report.blocked == []
    assert report.counts["paths"] > 26
