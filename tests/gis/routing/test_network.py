"""The street network built on a roads import: noding, snapping, metres, components, paths.

Expected lengths are hand-computed in the town's UTM metres and turned into geodesic metres with
pyproj (``geodesic_m``); the whole matrix is checked against networkx's Dijkstra on the same
stored edges.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.core.errors import ImportRejected
from gis.routing.matrix import cost_matrix, street_paths
from gis.routing.network import build_network, summarize_network
from gis.routing.snapping import snap_points
from gis.territory.importing import import_frame
from tests.gis.streets import (
    STREETS,
    build_streets,
    geodesic_m,
    lonlat,
    streets_frame,
    to_metric,
)


@pytest.fixture
def town(empty_engine: Engine) -> Iterator[Engine]:
    build_streets(empty_engine)
    yield empty_engine


def test_roads_import_nodes_crossings_snaps_ends_and_finds_components(town: Engine) -> None:
    with town.connect() as conn:
        summary = summarize_network(conn)
        oneway = conn.execute(
            text(
                "SELECT bool_and(e.oneway) FROM routing_edges e JOIN roads r ON r.id = e.road_id "
                "WHERE r.name = 'N1800'"
            )
        ).scalar_one()
        fragment_component = conn.execute(
            text(
                "SELECT DISTINCT e.component FROM routing_edges e JOIN roads r ON r.id = e.road_id "
                "WHERE r.name = 'fragment'"
            )
        ).scalar_one()
    # Main street: 2 lines cut at x = 200, 500 (snapped end), 900 | 1100, 1800 -> 4 + 3 pieces;
    # N200, N900, N1100, N1800 cut in two by the main street -> 8; N500 one piece; the north
    # link cut by nothing new -> 2; the fragment 1. Edges: 7 + 8 + 1 + 2 + 1 = 19.
    assert summary.edges == 19
    assert summary.components == 2
    assert summary.main_component != fragment_component
    assert oneway is True
    # Total length: every street once (the 0.4 m and 0.5 m gaps closed by moving ends).
    expected = sum(geodesic_m(*coords) for _, coords, _ in STREETS)
    assert summary.length_m == pytest.approx(expected, rel=1e-3)


def _points(*xy: tuple[float, float]) -> list[tuple[float, float]]:
    return [lonlat(x, y) for x, y in xy]


def test_shortest_walks_equal_hand_computed_lengths(town: Engine) -> None:
    places = _points((200, 300), (1100, 700), (500, 800), (1800, 300), (1450, 900))
    with town.connect() as conn:
        snapped = snap_points(conn, places)
        matrix = cost_matrix(conn, snapped)
    assert all(p.distance_m < 0.5 for p in snapped)
    # West street up to main, along main, up N1100: 200 + 900 + 200.
    assert matrix[0, 1] == pytest.approx(
        geodesic_m((200, 300), (200, 500), (1100, 500), (1100, 700)), rel=1e-3
    )
    # Through the snapped undershoot: 300 down N500, 300 along main, 200 down N200.
    assert matrix[2, 0] == pytest.approx(
        geodesic_m((500, 800), (500, 500), (200, 500), (200, 300)), rel=1e-3
    )
    # Against N1800's one-way direction (walking ignores it): 200 + 700 + 200.
    assert matrix[3, 1] == pytest.approx(
        geodesic_m((1800, 300), (1800, 500), (1100, 500), (1100, 700)), rel=1e-3
    )
    # Across the 0.5 m gap of the north link: 350 along it, down N1800 to main... or west:
    # via N1100 (350 + 400 + ...) — the shortest to (1800, 300) is east: 350 + 600.
    assert matrix[4, 3] == pytest.approx(
        geodesic_m((1450, 900), (1800, 900), (1800, 300)), rel=1e-3
    )
    np.testing.assert_allclose(matrix, matrix.T, rtol=1e-9)


def test_matrix_equals_networkx_dijkstra_on_the_same_graph(town: Engine) -> None:
    with town.connect() as conn:
        edges = conn.execute(text("SELECT source, target, length_m FROM routing_edges")).all()
        vertices = conn.execute(
            text("SELECT id, ST_X(geom), ST_Y(geom) FROM routing_vertices ORDER BY id")
        ).all()
        # Points sitting on the vertices: the matrix between them is vertex-to-vertex.
        snapped = snap_points(conn, [(float(v[1]), float(v[2])) for v in vertices])
        matrix = cost_matrix(conn, snapped)
    graph = nx.Graph()
    for source, target, length in edges:
        graph.add_edge(source, target, weight=length)
    lengths = dict(nx.all_pairs_dijkstra_path_length(graph, weight="weight"))
    ids = [int(v[0]) for v in vertices]
    for (a, va), (b, vb) in itertools.product(enumerate(ids), repeat=2):
        expected = lengths.get(va, {}).get(vb, np.inf)
        if np.isinf(expected):
            assert np.isinf(matrix[a, b])
        else:
            assert matrix[a, b] == pytest.approx(expected, abs=0.05)


def test_paths_follow_the_streets_in_order(town: Engine) -> None:
    walk_xy = [(200, 300), (1100, 700), (1800, 300)]
    with town.connect() as conn:
        snapped = snap_points(conn, _points(*walk_xy))
        matrix = cost_matrix(conn, snapped)
        (path,) = street_paths(conn, snapped, [[1, 2, 3]])
        edges = conn.execute(text("SELECT ST_AsBinary(geom) FROM routing_edges")).scalars().all()
    network = to_metric(shapely.union_all(shapely.from_wkb([bytes(e) for e in edges])))
    roads = to_metric(
        shapely.union_all([shapely.LineString([lonlat(*xy) for xy in c]) for _, c, _ in STREETS])
    )
    line = to_metric(shape(path.geometry))
    assert path.length_m == pytest.approx(matrix[0, 1] + matrix[1, 2], rel=1e-4)
    # Every vertex of the walk lies on a network edge (GeoJSON keeps 7 decimals: ~1 cm), and
    # on a road as drawn within the 1 m snapping tolerance.
    for x, y in line.coords:
        assert network.distance(shapely.Point(x, y)) < 0.02
        assert roads.distance(shapely.Point(x, y)) < 1.0
    # In order: from the first point, through the second, to the last.
    ends = [shapely.Point(line.coords[0]), shapely.Point(line.coords[-1])]
    assert ends[0].distance(to_metric(shapely.Point(lonlat(200, 300)))) < 0.02
    assert ends[1].distance(to_metric(shapely.Point(lonlat(1800, 300)))) < 0.02
    middle = to_metric(shapely.Point(lonlat(1100, 700)))
    assert line.project(middle) == pytest.approx(
        geodesic_m((200, 300), (200, 500), (1100, 500), (1100, 700)), rel=2e-3
    )


def test_disconnected_points_have_no_distance(town: Engine) -> None:
    with town.connect() as conn:
        snapped = snap_points(conn, _points((650, 955), (200, 300)))
        matrix = cost_matrix(conn, snapped)
    assert snapped[0].component != snapped[1].component
    assert np.isinf(matrix[0, 1]) and np.isinf(matrix[1, 0])


def test_rebuilding_gives_the_same_network(town: Engine) -> None:
    with town.begin() as conn:
        before = summarize_network(conn)
        again = build_network(conn)
    assert again == before


def test_bad_roads_file_is_rejected_whole_and_keeps_the_network(town: Engine) -> None:
    frame = streets_frame()
    frame.loc[3, "oneway"] = "sometimes"
    frame.loc[5, "geometry"] = shapely.Point(400_100.0, 3_390_100.0)
    with town.begin() as conn, pytest.raises(ImportRejected) as rejected:
        import_frame(conn, frame, layer="roads")
    assert "oneway 'sometimes'" in rejected.value.detail
    assert "wrong geometry type Point" in rejected.value.detail
    with town.connect() as conn:
        assert summarize_network(conn).edges == 19


def test_empty_network_is_empty(empty_engine: Engine) -> None:
    build_streets(empty_engine, with_roads=False)
    with empty_engine.begin() as conn:
        summary = build_network(conn)
    assert summary.edges == 0 and summary.main_component is None
