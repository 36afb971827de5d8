"""Roads and buildings from an OpenStreetMap extract (.osm.pbf, written here with pyosmium):
the same validation and network as any roads file; bad extracts rejected whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import osmium
import pytest
from osmium.osm.mutable import Node, Relation, Way
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from gis.core.errors import ImportRejected
from gis.routing.network import summarize_network
from gis.territory.importing import import_file
from tests.gis.streets import STREETS, build_streets, lonlat

runner = CliRunner()


# Where the town's streets cross: OSM puts a node there, shared by both ways.
CROSSINGS = ((200, 500), (900, 500), (1100, 500), (1800, 500))


def _with_crossings(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A street's points with the crossings lying inside it added in order (straight lines)."""
    (x0, y0), (x1, y1) = coords[0], coords[-1]
    inside = [
        c
        for c in CROSSINGS
        if c not in coords
        and min(x0, x1) <= c[0] <= max(x0, x1)
        and min(y0, y1) <= c[1] <= max(y0, y1)
        and (x0 == x1 == c[0] or y0 == y1 == c[1])
    ]
    return sorted([*coords, *inside], key=lambda c: (c[0] - x0) ** 2 + (c[1] - y0) ** 2)


def write_town_extract(path: Path, *, footbridge: bool = False) -> None:
    """The street town as OSM maps it: ways sharing a node at every crossing (no noding
    option needed), plus ways a walker cannot use, and three buildings (two ways, one
    multipolygon relation). ``footbridge``: a footway bridge over the main street at x = 700
    (layer=1, no node shared with the street under it)."""
    writer = osmium.SimpleWriter(str(path))
    node_id = 0
    shared: dict[tuple[float, float], int] = {}

    def node(x: float, y: float) -> int:
        nonlocal node_id
        if (x, y) in shared:
            return shared[(x, y)]
        node_id += 1
        writer.add_node(Node(id=node_id, location=lonlat(x, y)))
        if (x, y) in CROSSINGS:
            shared[(x, y)] = node_id
        return node_id

    if footbridge:
        bridge = [node(700, 300), node(700, 700)]
        tags = {"highway": "footway", "bridge": "yes", "layer": "1", "name": "footbridge"}
        writer.add_way(Way(id=150, nodes=bridge, tags=tags))
    for way_id, (name, coords, oneway) in enumerate(STREETS, start=100):
        nodes = [node(x, y) for x, y in _with_crossings(coords)]
        tags = {"highway": "residential", "name": name}
        if oneway:
            tags["oneway"] = "yes"
        writer.add_way(Way(id=way_id, nodes=nodes, tags=tags))
    motorway = [node(0, 50), node(2000, 50)]
    writer.add_way(Way(id=200, nodes=motorway, tags={"highway": "motorway"}))
    private = [node(300, 0), node(300, 990)]
    writer.add_way(Way(id=201, nodes=private, tags={"highway": "service", "foot": "no"}))

    def square(x: float, y: float, size: float) -> list[int]:
        corners = [node(x, y), node(x + size, y), node(x + size, y + size), node(x, y + size)]
        return [*corners, corners[0]]

    writer.add_way(
        Way(id=300, nodes=square(250, 250, 20), tags={"building": "yes", "building:levels": "5"})
    )
    writer.add_way(Way(id=301, nodes=square(1200, 600, 30), tags={"building": "school"}))
    writer.add_way(Way(id=302, nodes=square(1500, 200, 40), tags={}))
    writer.add_relation(
        Relation(
            id=400,
            members=[("w", 302, "outer")],
            tags={"type": "multipolygon", "building": "yes", "name": "综合楼"},
        )
    )
    writer.close()


def test_roads_and_buildings_from_an_extract(empty_engine: Engine, tmp_path: Path) -> None:
    build_streets(empty_engine, with_roads=False)
    extract = tmp_path / "town.osm.pbf"
    write_town_extract(extract)
    with empty_engine.begin() as conn:
        roads = import_file(conn, extract, layer="roads")
        buildings = import_file(conn, extract, layer="buildings")
    assert roads.features == len(STREETS)  # the motorway and the foot=no way are left out
    assert buildings.features == 3
    with empty_engine.connect() as conn:
        summary = summarize_network(conn)
        oneway = conn.execute(text("SELECT name FROM roads WHERE oneway")).scalars().all()
        rows = conn.execute(text("SELECT code, floors FROM buildings ORDER BY code")).all()
        stored = {str(code): floors for code, floors in rows}
        grids = conn.execute(
            text("SELECT grid_code FROM buildings WHERE code = 'OSM-r400'")
        ).scalar_one()
    # The same network as the town's GeoJSON import (see tests/gis/routing/test_network.py).
    assert (summary.edges, summary.components) == (19, 2)
    assert oneway == ["N1800"]
    assert stored == {"OSM-r400": None, "OSM-w300": 5, "OSM-w301": None}
    assert grids is not None  # assigned to its grid by location, like any building


def test_bad_extracts_are_rejected_and_store_nothing(
    empty_engine: Engine, tmp_path: Path, use_database: Callable[[Engine], None]
) -> None:
    build_streets(empty_engine, with_roads=False)
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"\x00\x00\x00\x0ethis is not a pbf")
    empty = tmp_path / "empty.osm.pbf"
    osmium.SimpleWriter(str(empty)).close()
    with empty_engine.begin() as conn:
        with pytest.raises(ImportRejected, match="not a readable OpenStreetMap extract"):
            import_file(conn, garbage, layer="roads")
        with pytest.raises(ImportRejected, match="holds no walkable highways"):
            import_file(conn, empty, layer="roads")
        with pytest.raises(ImportRejected, match="provides the layers roads, buildings"):
            import_file(conn, empty, layer="grids")
    use_database(empty_engine)
    result = runner.invoke(app, ["load", str(garbage), "--layer", "roads"])
    assert result.exit_code == 2 and "not a readable OpenStreetMap extract" in result.output
    extract = tmp_path / "town.osm.pbf"
    write_town_extract(extract)
    loaded = runner.invoke(app, ["load", str(extract), "--layer", "roads", "--json"])
    assert loaded.exit_code == 0, loaded.output
    with empty_engine.connect() as conn:
        assert summarize_network(conn).edges == 19


def test_an_osm_footbridge_stays_apart_from_the_street_below(
    empty_engine: Engine, tmp_path: Path
) -> None:
    """OSM marks junctions with shared nodes: no option needed, and a way crossing without a
    shared node (a footbridge) is no junction."""
    from gis.routing.matrix import cost_matrix
    from gis.routing.snapping import snap_points
    from tests.gis.streets import geodesic_m

    build_streets(empty_engine, with_roads=False)
    extract = tmp_path / "town.osm.pbf"
    write_town_extract(extract, footbridge=True)
    with empty_engine.begin() as conn:
        import_file(conn, extract, layer="roads")
    with empty_engine.connect() as conn:
        summary = summarize_network(conn)
        snapped = snap_points(conn, [lonlat(700, 600), lonlat(600, 500)])
        on_bridge = snap_points(conn, [lonlat(700, 600)], components=[snapped[1].component or 0])
    # The town's 19 edges and the footbridge on its own: it meets no street.
    assert (summary.edges, summary.components) == (20, 3)
    assert snapped[0].component != snapped[1].component
    # From the bridge, the street below is not reachable; the nearest point on the main network
    # is the street itself 100 m down (a walker would have to find stairs).
    assert on_bridge[0].distance_m == pytest.approx(geodesic_m((700, 600), (700, 500)), rel=1e-3)
    with empty_engine.connect() as conn:
        assert cost_matrix(conn, snapped)[0, 1] == float("inf")
