"""Service stations and buildings in the hand-built street town (``tests.gis.streets``), and
their walks computed independently: networkx on the streets noded by shapely in the town's
metres, every length geodesic (pyproj ``Geod``), each point joined to the foot of its
perpendicular on its nearest street.

    D1 (x < 1000)                              D2 (x > 1000)
    B-FRAGMENT near the fragment (its own component: not connected)
    S-WEST by N200, B-WEST by N200             S-EAST by N1100, B-FAR by N1800
    B-BORDER by N900, 60 m from the border: its nearest station is S-EAST, across it
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import shapely
from shapely.geometry import LineString, Point, box
from sqlalchemy import Engine

from gis.territory.importing import import_frame
from tests.gis.streets import STREETS, _frame, build_streets, geodesic_m

SPEED_KMH = 4.5
M_PER_MIN = SPEED_KMH * 1000 / 60

STATIONS = {"S-WEST": (215.0, 150.0), "S-EAST": (1110.0, 450.0)}
# 20 m square footprints centred on these points (their point on surface is the centre).
BUILDINGS = {
    "B-WEST": ((230.0, 300.0), 100),
    "B-BORDER": ((960.0, 700.0), 50),
    "B-FAR": ((1830.0, 300.0), 80),
    "B-FRAGMENT": ((650.0, 970.0), 20),
}
# A waste point elsewhere: not a service station, a candidate site of another kind.
WASTE_POINT = (1790.0, 300.0)


def build_town(engine: Engine) -> None:
    """The street town with the stations, a waste point and the buildings above."""
    build_streets(engine)
    with engine.begin() as conn:
        import_frame(
            conn,
            _frame(
                {
                    "code": list(BUILDINGS),
                    "residents": [r for _, r in BUILDINGS.values()],
                },
                [box(x - 10, y - 10, x + 10, y + 10) for (x, y), _ in BUILDINGS.values()],
            ),
            layer="buildings",
        )
        import_frame(
            conn,
            _frame(
                {
                    "code": [*STATIONS, "W-1"],
                    "kind": ["service_station"] * len(STATIONS) + ["waste_point"],
                },
                [Point(p) for p in [*STATIONS.values(), WASTE_POINT]],
            ),
            layer="facilities",
        )


def _street_lines() -> list[LineString]:
    # The network build moves the undershooting end of N500 (0.4 m) and the north link's gap
    # (0.5 m) onto the junctions; so do we.
    fixed = {(500.0, 500.4): (500.0, 500.0), (1450.5, 900.0): (1450.0, 900.0)}
    return [
        LineString([fixed.get((float(x), float(y)), (x, y)) for x, y in coords])
        for _, coords, _ in STREETS
    ]


def reference_graph(points: dict[str, tuple[float, float]]) -> nx.Graph:
    """The streets noded where they cross, cut at the foot of each point's perpendicular on its
    nearest street, with each point joined to its foot; weights in geodesic metres."""
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(_street_lines())))
    segments = [tuple(map(tuple, shapely.get_coordinates(s))) for s in noded]
    graph = nx.Graph()
    for a, b in segments:
        graph.add_edge(a, b)
    for name, xy in points.items():
        p = Point(xy)
        streets = [e for e in graph.edges if not isinstance(e[0], str)]
        streets = [e for e in streets if not isinstance(e[1], str)]
        a, b = min(streets, key=lambda e: LineString(e).distance(p))
        line = LineString([a, b])
        foot_pt = line.interpolate(line.project(p))
        foot = (foot_pt.x, foot_pt.y)
        graph.remove_edge(a, b)
        graph.add_edge(a, foot)
        graph.add_edge(foot, b)
        graph.add_edge(name, foot, leg=True)

    def at(node: str | tuple[float, float]) -> tuple[float, float]:
        return points[node] if isinstance(node, str) else node

    for a, b, data in graph.edges(data=True):
        data["weight"] = geodesic_m(at(a), at(b))
    return graph


def reference_walks_m() -> dict[str, dict[str, float]]:
    """Metres from every building to every station (missing: not connected)."""
    points: dict[str, tuple[float, float]] = {
        **STATIONS,
        **{code: xy for code, (xy, _) in BUILDINGS.items()},
    }
    graph = reference_graph(points)
    walks: dict[str, dict[str, float]] = {}
    for code in BUILDINGS:
        lengths: dict[Any, float] = nx.single_source_dijkstra_path_length(graph, code)
        walks[code] = {s: lengths[s] for s in STATIONS if s in lengths}
    return walks
