"""Walk areas: for each facility, the streets reachable within the limit as a polygon, with the
buildings and residents it serves.

Per facility one Dijkstra bounded by the limit (``scipy.sparse.csgraph.dijkstra(limit=…)``) on
the graph cut at every building and facility. A street piece is reached in full when the walk
budget left at one of its ends covers it (or both ends' budgets together do), else in part:
the stretch the budget left at each end reaches (an edge is cut at its fraction, not dropped).
The area is those pieces, with the straight legs of the buildings served, buffered by
``AREA_BUFFER_M`` in the network's UTM zone, not a convex hull: a street the walk never reaches
stays outside even when it lies between two reached ones.

A building is served when its own walk (straight leg, streets, the facility's leg) is within
the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely import ops
from sqlalchemy import Connection

from gis.service_areas.network import FloatArray
from gis.service_areas.walk import (
    DEFAULT_KIND,
    DEFAULT_MINUTES,
    DEFAULT_WALK_SPEED_KMH,
    WalkCity,
    check_limit,
    load_walk_city,
)

# Either side of a reached street: the frontage a resident walks along to reach it.
AREA_BUFFER_M = 30.0
# Outline simplification of the area polygons (metres): drawing, not measuring.
_SIMPLIFY_M = 2.0
# Rows of the (sources x nodes) distance matrix computed at once.
_BATCH = 8


@dataclass(frozen=True)
class WalkArea:
    """A facility's walk area (GeoJSON polygon in EPSG:4326) and who it serves."""

    code: str
    name: str | None
    district_code: str | None
    lon: float
    lat: float
    geometry: dict[str, Any] | None
    street_m: float
    buildings: int
    residents: int


def reached_pieces(
    city: WalkCity, dist: FloatArray, budget_m: float
) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """The reached stretches of street: (edge index, from fraction, to fraction) arrays, given
    the walk metres ``dist`` to every node and the street ``budget_m``."""
    g = city.graph
    assert g is not None
    left_a = budget_m - dist[g.seg_a]
    left_b = budget_m - dist[g.seg_b]
    length = np.maximum(g.seg_m, 1e-12)
    whole = (
        (left_a >= length)
        | (left_b >= length)
        | ((left_a > 0) & (left_b > 0) & (left_a + left_b >= length))
    )
    span = g.seg_fb - g.seg_fa
    from_a = ~whole & (left_a > 0)
    from_b = ~whole & (left_b > 0)
    edges = np.concatenate([g.seg_edge[whole], g.seg_edge[from_a], g.seg_edge[from_b]])
    f0 = np.concatenate(
        [
            g.seg_fa[whole],
            g.seg_fa[from_a],
            g.seg_fb[from_b] - span[from_b] * left_b[from_b] / length[from_b],
        ]
    )
    f1 = np.concatenate(
        [
            g.seg_fb[whole],
            g.seg_fa[from_a] + span[from_a] * left_a[from_a] / length[from_a],
            g.seg_fb[from_b],
        ]
    )
    return edges, f0, f1


def _area_polygon(city: WalkCity, edges: np.ndarray, f0: FloatArray, f1: FloatArray) -> Any:
    """The reached pieces as metric lines, merged per edge (contiguous stretches joined)."""
    g = city.graph
    assert g is not None
    lines = []
    order = np.lexsort((f0, edges))
    k = 0
    while k < len(order):
        e = int(edges[order[k]])
        start, end = float(f0[order[k]]), float(f1[order[k]])
        k += 1
        while k < len(order) and int(edges[order[k]]) == e:
            a, b = float(f0[order[k]]), float(f1[order[k]])
            if a <= end + 1e-9:
                end = max(end, b)
            else:
                lines.append(_piece(g.streets.lines[e], start, end))
                start, end = a, b
            k += 1
        lines.append(_piece(g.streets.lines[e], start, end))
    return shapely.multilinestrings([ln for ln in lines if ln is not None and not ln.is_empty])


def _piece(line: Any, start: float, end: float) -> Any:
    if start <= 1e-9 and end >= 1 - 1e-9:
        return line
    return ops.substring(line, start, end, normalized=True)


def _legs(city: WalkCity, served: np.ndarray) -> Any:
    """The straight legs from the served buildings to their streets, in the network's metres."""
    assert city.graph is not None and city.snapped is not None
    snapped, lines = city.snapped, city.graph.streets.lines
    k = np.flatnonzero(served)
    ends = shapely.line_interpolate_point(
        lines[snapped.edge[k]], snapped.fraction[k], normalized=True
    )
    coords = np.stack(
        [np.column_stack([snapped.x[k], snapped.y[k]]), shapely.get_coordinates(ends)], axis=1
    )
    return shapely.multilinestrings(shapely.linestrings(coords)) if len(k) else None


def _empty(city: WalkCity, j: int) -> WalkArea:
    """The area of a facility no street reaches (or whose leg alone exceeds the limit)."""
    fac = city.facilities
    return WalkArea(
        fac.codes[j],
        fac.names[j],
        fac.district[j],
        float(fac.lon[j]),
        float(fac.lat[j]),
        None,
        0.0,
        0,
        0,
    )


def walk_areas(
    conn: Connection,
    *,
    kind: str = DEFAULT_KIND,
    minutes: float = DEFAULT_MINUTES,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[WalkArea]:
    """One walk area per facility of ``kind`` (geometry None when no street reaches it);
    with ``bbox`` (lon/lat), only the areas meeting it, computed for the facilities near it
    alone."""
    limit = check_limit(kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh)
    city = load_walk_city(conn, limit)
    fac = city.facilities
    near = np.arange(len(fac)) if bbox is None else _near(fac.lon, fac.lat, bbox, limit.limit_m)
    if city.graph is None:
        return [_empty(city, int(j)) for j in near]
    graph = city.graph
    b_nodes, b_offsets = city.building_nodes, city.building_offsets
    f_nodes, f_offsets = city.facility_nodes, city.facility_offsets
    areas = []
    for first in range(0, len(near), _BATCH):
        batch = near[first : first + _BATCH]
        dist = graph.distances(f_nodes[batch], limit=limit.limit_m)
        for row, j in enumerate(batch):
            budget = limit.limit_m - float(f_offsets[j])
            served = dist[row][b_nodes] + b_offsets <= budget
            if budget <= 0:
                areas.append(_empty(city, int(j)))
                continue
            edges, f0, f1 = reached_pieces(city, dist[row], budget)
            lines = _area_polygon(city, edges, f0, f1)
            legs = _legs(city, served)
            parts = shapely.get_parts(lines)
            if legs is not None:
                parts = np.concatenate([parts, shapely.get_parts(legs)])
            # Buffering each piece and joining them is ~7x faster in GEOS than buffering the
            # whole MultiLineString at once (same area).
            polygon = shapely.union_all(shapely.buffer(parts, AREA_BUFFER_M, quad_segs=4)).simplify(
                _SIMPLIFY_M
            )
            geometry = shapely.geometry.mapping(
                shapely.set_precision(graph.streets.to_wgs84(polygon), 1e-7)
            )
            areas.append(
                WalkArea(
                    code=fac.codes[j],
                    name=fac.names[j],
                    district_code=fac.district[j],
                    lon=float(fac.lon[j]),
                    lat=float(fac.lat[j]),
                    geometry=dict(geometry),
                    street_m=round(float(shapely.length(lines)), 1),
                    buildings=int(served.sum()),
                    residents=int(city.buildings.residents[served].sum()),
                )
            )
    if bbox is None:
        return areas
    view = shapely.box(*bbox)
    return [
        a
        for a in areas
        if a.geometry is not None and view.intersects(shapely.geometry.shape(a.geometry))
    ]


def _near(
    lon: FloatArray, lat: FloatArray, bbox: tuple[float, float, float, float], limit_m: float
) -> Any:
    """The facilities whose walk area can meet ``bbox``: a walk is never shorter than the
    straight line, so an area lies within the limit (and the buffer) of its facility."""
    reach = limit_m + AREA_BUFFER_M + _SIMPLIFY_M + 1.0
    minx, miny, maxx, maxy = bbox
    dlat = reach / 111_000.0
    widest = max(abs(miny - dlat), abs(maxy + dlat))
    dlon = reach / (111_000.0 * max(np.cos(np.radians(min(widest, 89.0))), 1e-6))
    inside = (
        (lon >= minx - dlon) & (lon <= maxx + dlon) & (lat >= miny - dlat) & (lat <= maxy + dlat)
    )
    return np.flatnonzero(inside)
