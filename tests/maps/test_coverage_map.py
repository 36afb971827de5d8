"""The coverage map: straddling communities by district, enclave parts, drawn offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli.main import app
from gis.city import demo_manifest
from tests.browser import load_page

pytestmark = pytest.mark.browser


def test_served_coverage_map_draws_offline_from_tiles(demo_server: str, tmp_path: Path) -> None:
    communities = demo_manifest()["counts"]["communities"]
    report = load_page(
        f"{demo_server}/maps/coverage",
        screenshot=tmp_path / "coverage.png",
        wait_until="networkidle",
        wait_for=(
            "() => ((window.gridpatrolVector?.stats.communities || {}).features || 0)"
            f" >= {communities}"
        ),
    )
    assert report.errors == [] and report.blocked == []
    # District and community borders come as tiles, every one drawn at least once.
    tiles = {url.split("/tiles/")[1].split("/")[0] for _, url in report.responses if ".mvt" in url}
    assert tiles == {"districts", "communities"}
    assert report.vector["districts"]["features"] >= 3
    assert report.vector["communities"]["features"] >= communities
    # 3 districts + communities + 3 straddler parts + ≥3 enclave outlines
    assert report.counts["paths"] >= 3 + communities + 6
    assert report.counts["controls"] == 1 and report.counts["legend"] == 1


def test_written_coverage_map_opens_offline(
    shared_demo_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(shared_demo_engine)
    out = tmp_path / "coverage.html"
    result = CliRunner().invoke(app, ["map", "coverage", "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "三河社区" in html and "插花地" in html
    report = load_page(out.as_uri())
    assert report.errors == [] and report.blocked == []
    assert report.counts["paths"] > 10
