"""Junctions are where streets share a vertex (or end within 1 m); a street crossing another
without one is a bridge or a tunnel and stays apart, unless the file is loaded with
``node_crossings`` (drawn data) and the two are on one level.

The hand-built loop, in metres (UTM 48N, offsets from the town's origin)::

    y
    300        ┌──────────── C ────────────┐     B (x = 500) crosses A at (500, 0) with no
      0  ──────┼──────────── A ────────────┘     shared vertex: a footbridge over A.
   -300  └──── B ──── D ───┘                     D joins B's south end to A's west end,
         0    500         1000                   C B's north end to A's east end.

The expected metres are the walked polylines measured by pyproj's geodesic (``geodesic_m``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import LineString
from sqlalchemy import Engine, text

from gis.routing.matrix import cost_matrix
from gis.routing.reach import network_report
from gis.routing.snapping import snap_points
from gis.territory.importing import import_file, import_frame
from tests.gis.streets import METRIC_CRS, X0, Y0, build_streets, geodesic_m, lonlat

LOOP = [
    ("A", [(0, 0), (1000, 0)]),
    ("B", [(500, -300), (500, 300)]),
    ("C", [(1000, 0), (1000, 300), (500, 300)]),
    ("D", [(500, -300), (0, -300), (0, 0)]),
]
FROM, TO = (400, 0), (500, 150)
# Over the bridge's far end: along A east, up C, back west, down B to the point.
AROUND = ((400, 0), (1000, 0), (1000, 300), (500, 300), (500, 150))
# Down from the bridge onto the street below (what noding every crossing did).
DOWN = ((400, 0), (500, 0), (500, 150))


def _loop(**columns: list[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": [name for name, _ in LOOP], **columns},
        geometry=[LineString([(x + X0, y + Y0) for x, y in coords]) for _, coords in LOOP],
        crs=METRIC_CRS,
    )


def _walk_m(engine: Engine) -> float:
    with engine.connect() as conn:
        snapped = snap_points(conn, [lonlat(*FROM), lonlat(*TO)])
        return float(cost_matrix(conn, snapped)[0, 1])


def _load(engine: Engine, frame: gpd.GeoDataFrame, *, node_crossings: bool) -> None:
    build_streets(engine, with_roads=False)
    with engine.begin() as conn:
        import_frame(conn, frame, layer="roads", node_crossings=node_crossings)


def test_a_crossing_without_a_shared_vertex_is_a_bridge(empty_engine: Engine) -> None:
    _load(empty_engine, _loop(), node_crossings=False)
    assert geodesic_m(*AROUND) > 4 * geodesic_m(*DOWN)
    # The noding of the first round (every crossing a junction) walks DOWN: this fails on it.
    assert _walk_m(empty_engine) == pytest.approx(geodesic_m(*AROUND), rel=1e-3)
    with empty_engine.connect() as conn:
        report = network_report(conn)
        vertices = conn.execute(text("SELECT count(*) FROM routing_vertices")).scalar_one()
    # Four street ends meeting in pairs... and no vertex where B passes over A.
    assert vertices == 4
    assert report.crossings_without_junction == 1
    assert report.crossings_hint is not None and "--node-crossings" in report.crossings_hint


def test_node_crossings_makes_drawn_crossings_junctions(empty_engine: Engine) -> None:
    _load(empty_engine, _loop(), node_crossings=True)
    assert _walk_m(empty_engine) == pytest.approx(geodesic_m(*DOWN), rel=1e-3)
    with empty_engine.connect() as conn:
        report = network_report(conn)
    assert report.crossings_without_junction == 0 and report.crossings_hint is None


@pytest.mark.parametrize(
    "columns",
    [
        {"bridge": [None, "yes", None, None]},
        {"tunnel": ["yes", None, None, None]},
        {"layer": ["0", "1", "0", "0"]},
    ],
    ids=["bridge", "tunnel", "layer"],
)
def test_node_crossings_honours_bridge_tunnel_and_layer(
    empty_engine: Engine, columns: dict[str, list[Any]]
) -> None:
    _load(empty_engine, _loop(**columns), node_crossings=True)
    assert _walk_m(empty_engine) == pytest.approx(geodesic_m(*AROUND), rel=1e-3)
    with empty_engine.connect() as conn:
        levels: dict[str, int] = dict(conn.execute(text("SELECT name, level FROM roads")).all())
    assert levels["A"] != levels["B"]
    # Streets of different levels crossing are no problem to report.
    with empty_engine.connect() as conn:
        assert network_report(conn).crossings_without_junction == 0


def test_bad_layer_values_are_refused(empty_engine: Engine) -> None:
    from gis.core.errors import ImportRejected

    build_streets(empty_engine, with_roads=False)
    with empty_engine.begin() as conn, pytest.raises(ImportRejected, match="layer 'up'"):
        import_frame(conn, _loop(layer=["0", "up", "0", "0"]), layer="roads")


def test_node_crossings_is_only_for_roads(empty_engine: Engine, tmp_path: Path) -> None:
    from gis.core.errors import InvalidInput

    with empty_engine.begin() as conn, pytest.raises(InvalidInput, match="roads layer"):
        import_file(conn, tmp_path / "grids.geojson", layer="grids", node_crossings=True)


def test_the_cli_flag_loads_drawn_roads_with_their_crossings(
    empty_engine: Engine, tmp_path: Path, use_database: Any
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    build_streets(empty_engine, with_roads=False)
    drawn = tmp_path / "roads.gpkg"
    _loop().to_file(drawn, layer="roads", driver="GPKG")
    use_database(empty_engine)
    runner = CliRunner()
    refused = runner.invoke(app, ["load", str(drawn), "--layer", "grids", "--node-crossings"])
    assert refused.exit_code == 2 and "--node-crossings applies to --layer roads" in refused.output
    loaded = runner.invoke(app, ["load", str(drawn), "--layer", "roads", "--node-crossings"])
    assert loaded.exit_code == 0, loaded.output
    assert _walk_m(empty_engine) == pytest.approx(geodesic_m(*DOWN), rel=1e-3)
    report = runner.invoke(app, ["validate"])
    assert "crossing" not in report.output
    again = runner.invoke(app, ["load", str(drawn), "--layer", "roads"])
    assert again.exit_code == 0, again.output
    assert _walk_m(empty_engine) == pytest.approx(geodesic_m(*AROUND), rel=1e-3)
    warned = runner.invoke(app, ["validate"])
    assert "1 street crossing(s) without a junction" in warned.output
    assert "--node-crossings" in warned.output
