"""What the street network does not reach, in ``validate``/``GET /topology``: components, grids
no main street crosses, service stations and buildings beyond 250 m of one."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app
from gis.routing.reach import network_report
from gis.territory.importing import import_frame
from tests.conftest import settings_for
from tests.gis.streets import GRID_1, GRID_2, _frame, build_streets, streets_frame

runner = CliRunner()


def _town_with_west_streets_only(engine: Engine) -> None:
    """Streets only in the west grid (N200, N500 and the fragment); a service station and a
    building far from them in the east grid, one of each near N200."""
    build_streets(engine, with_roads=False)
    streets = streets_frame()
    with engine.begin() as conn:
        import_frame(
            conn, streets[streets["name"].isin(["N200", "N500", "fragment"])], layer="roads"
        )
        import_frame(
            conn,
            _frame(
                {"code": ["B-NEAR", "B-FAR"]},
                [box(210, 300, 230, 320), box(1500, 400, 1520, 420)],
            ),
            layer="buildings",
        )
        import_frame(
            conn,
            _frame(
                {"code": ["S-NEAR", "S-FAR"], "kind": ["service_station", "service_station"]},
                [box(180, 600, 181, 601).centroid, box(1700, 700, 1701, 701).centroid],
            ),
            layer="facilities",
        )


def test_unreachable_grids_stations_and_buildings_are_reported(
    empty_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    _town_with_west_streets_only(empty_engine)
    with empty_engine.connect() as conn:
        report = network_report(conn)
    # N200 and N500 touch nothing: with the fragment, three components; N200 (800 m) is main.
    assert len(report.components) == 3
    assert sum(c.main for c in report.components) == 1
    assert report.unreachable_grids == [GRID_2]
    assert GRID_1 not in report.unreachable_grids
    assert report.unreachable_service_stations == ["S-FAR"]
    assert report.unreachable_buildings == 1
    assert report.unreachable_building_codes == ["B-FAR"]
    assert report.problem_count == 3

    with TestClient(create_app(settings_for(empty_engine), engine=empty_engine)) as client:
        network = client.get("/topology").json()["network"]
    assert network["unreachable_grids"] == [GRID_2]
    use_database(empty_engine)
    result = runner.invoke(app, ["validate", "--json"])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["network"]["unreachable_service_stations"] == ["S-FAR"]
    table = runner.invoke(app, ["validate"])
    assert "unreachable grid" in table.output and "3 component(s)" in table.output
