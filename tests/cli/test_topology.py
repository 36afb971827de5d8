"""``gridpatrol validate`` and ``repair`` on the demo city and the hand-built town."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import Engine
from typer.testing import CliRunner

from cli.main import app
from tests.gis import handbuilt as town

runner = CliRunner()


def test_validate_demo_json_lists_planted_problems_and_fails(
    shared_demo_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    use_database(shared_demo_engine)
    result = runner.invoke(app, ["validate", "--json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["counts"] == {
        "gaps": 1,
        "slivers": 1,
        "overlaps": 1,
        "outside_community": 0,
        "invalid_geometries": 0,
        "code_problems": 0,
        "split_buildings": 1,
        "unassigned_buildings": 1,
    }


def test_validate_table_names_each_problem(
    shared_demo_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    use_database(shared_demo_engine)
    result = runner.invoke(app, ["validate"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    for word in ("gap", "overlap", "split building", "unassigned building", "sliver"):
        assert word in result.stdout
    assert "4 problem(s), 1 sliver(s)" in result.stdout


def test_repair_is_explicit_and_dry_run_writes_nothing(
    empty_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    town.build_town(empty_engine)
    use_database(empty_engine)
    dry = runner.invoke(app, ["repair", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert [r["code"] for r in json.loads(dry.stdout)] == [town.BOWTIE]
    before = json.loads(runner.invoke(app, ["validate", "--json"]).stdout)
    assert before["counts"]["invalid_geometries"] == 1
    assert runner.invoke(app, ["repair", "--layer", "grids"]).exit_code == 0
    after = json.loads(runner.invoke(app, ["validate", "--json"]).stdout)
    assert after["counts"]["invalid_geometries"] == 0
