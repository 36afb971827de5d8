"""``gridpatrol service-areas`` and ``gridpatrol site-stations`` on the demo city."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli.main import app
from gis.city import demo_manifest
from gis.core.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _demo(shared_demo_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", shared_demo_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_service_areas_json_and_table() -> None:
    result = runner.invoke(app, ["service-areas", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["kind"] == "service_station" and body["minutes"] == 15
    assert body["gaps_matched"] == len(body["gaps"]) == body["beyond_buildings"] > 0
    table = runner.invoke(app, ["service-areas", "--minutes", "20", "--top", "3"])
    assert table.exit_code == 0, table.output
    assert "三河社区" in table.output or "beyond" in table.output


def test_site_stations_json() -> None:
    result = runner.invoke(
        app, ["site-stations", "--new", "1", "--candidates", "facilities", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["optimal"] and len(body["sites"]) == 1
    assert body["covered_after"] > body["covered_before"]
    table = runner.invoke(app, ["site-stations", "--new", "1", "--candidates", "facilities"])
    assert table.exit_code == 0 and "greedy" in table.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["service-areas", "--kind", "tower", "--json"], "tower"),
        (["service-areas", "--minutes", "0", "--json"], "minutes"),
        (["site-stations", "--new", "0", "--json"], "new_sites"),
        (["site-stations", "--new", "1", "--candidates", "towers", "--json"], "candidates"),
    ],
)
def test_bad_input_exits_2_naming_it(args: list[str], named: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is False and named in body["detail"]


def test_the_straddling_community_is_listed() -> None:
    body = json.loads(runner.invoke(app, ["service-areas", "--json"]).stdout)
    straddler = demo_manifest()["straddling_community"]
    (row,) = [u for u in body["by_community"] if u["code"] == straddler]
    assert row["beyond_buildings"] > 0 and row["across_border_buildings"] > 0
