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


def write_town_extract(path: Path) -> None:
    """The street town as OSM ways (no shared nodes at crossings: noding must find them), plus
    ways a walker cannot use, and three buildings (two ways, one multipolygon relation)."""
    writer = osmium.SimpleWriter(str(path))
    node_id = 0

    def node(x: float, y: float) -> int:
        nonlocal node_id
        node_id += 1
        writer.add_node(Node(id=node_id, location=lonlat(x, y)))
        return node_id

    for way_id, (name, coords, oneway) in enumerate(STREETS, start=100):
        nodes = [node(x, y) for x, y in coords]
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
