"""What the street network reaches: its components, and the grids, service stations and
buildings the main component (the one with the most street length) does not reach.

- a grid is reached when an edge of the main component crosses or touches it;
- a service station or building is reached when an edge of the main component lies within
  ``reach_m`` metres (``ST_DWithin`` on geography, after a degree-box index prefilter), the
  furthest a patrol plan walks from a street to a stop.

Nothing is reported when no roads are loaded: a city without streets is not yet routable, which
``components == 0`` says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from gis.routing.network import (
    count_unjoined_crossings,
    degrees_for,
    extent_centre,
    summarize_network,
)

DEFAULT_REACH_M = 250.0
_LISTED_BUILDINGS = 100


@dataclass(frozen=True)
class Component:
    """A connected part of the network."""

    id: int
    edges: int
    length_m: float
    main: bool


@dataclass(frozen=True)
class NetworkReport:
    """The network's components and what its main component does not reach."""

    reach_m: float
    edges: int
    components: list[Component] = field(default_factory=list)
    unreachable_grids: list[str] = field(default_factory=list)
    unreachable_service_stations: list[str] = field(default_factory=list)
    unreachable_buildings: int = 0
    unreachable_building_codes: list[str] = field(default_factory=list)
    # Streets of one level crossing with no junction (a warning, not a problem: a bridge drawn
    # without its level, or drawn data that needs ``--node-crossings``).
    crossings_without_junction: int = 0
    # What to do about them (None: there are none).
    crossings_hint: str | None = None

    @property
    def problem_count(self) -> int:
        """Grids, stations and buildings a patrol cannot reach by street."""
        return (
            len(self.unreachable_grids)
            + len(self.unreachable_service_stations)
            + self.unreachable_buildings
        )


_COMPONENTS = """
SELECT component, count(*), sum(length_m) FROM routing_edges
GROUP BY component ORDER BY sum(length_m) DESC, component
"""

_GRIDS = """
SELECT g.code FROM grids g
WHERE NOT EXISTS (
    SELECT 1 FROM routing_edges e
    WHERE e.component = :main AND e.geom && g.geom AND ST_Intersects(e.geom, g.geom)
)
ORDER BY g.code
"""

_NEAR = """
EXISTS (
    SELECT 1 FROM routing_edges e
    WHERE e.component = :main AND e.geom && ST_Expand({geom}, :deg)
      AND ST_DWithin(e.geom::geography, {geom}::geography, :reach_m)
)
"""

_STATIONS = f"""
SELECT f.code FROM facilities f
WHERE f.kind = 'service_station' AND NOT {_NEAR.format(geom="f.geom")}
ORDER BY f.code
"""

_BUILDINGS = f"""
SELECT count(*) OVER (), b.code FROM buildings b
WHERE NOT {_NEAR.format(geom="b.geom")}
ORDER BY b.code
LIMIT :listed
"""


def network_report(conn: Connection, *, reach_m: float = DEFAULT_REACH_M) -> NetworkReport:
    """Components of the stored network and what its main component does not reach."""
    summary = summarize_network(conn)
    if summary.main_component is None:
        return NetworkReport(reach_m=reach_m, edges=0)
    main = summary.main_component
    components = [
        Component(id=int(r[0]), edges=int(r[1]), length_m=round(float(r[2]), 1), main=r[0] == main)
        for r in conn.execute(text(_COMPONENTS))
    ]
    centre = extent_centre(conn, "routing_edges")
    assert centre is not None, "a main component has edges"
    deg = degrees_for(reach_m, lat=centre[1])
    params = {"main": main, "reach_m": reach_m, "deg": deg, "listed": _LISTED_BUILDINGS}
    grids = list(conn.execute(text(_GRIDS), params).scalars())
    stations = list(conn.execute(text(_STATIONS), params).scalars())
    buildings = conn.execute(text(_BUILDINGS), params).all()
    crossings = count_unjoined_crossings(conn)
    return NetworkReport(
        reach_m=reach_m,
        edges=summary.edges,
        components=components,
        unreachable_grids=grids,
        unreachable_service_stations=stations,
        unreachable_buildings=int(buildings[0][0]) if buildings else 0,
        unreachable_building_codes=[r[1] for r in buildings],
        crossings_without_junction=crossings,
        crossings_hint=crossings_hint(crossings),
    )


def crossings_hint(crossings: int) -> str | None:
    """What to do about ``crossings`` street crossings without a junction (None: none)."""
    if not crossings:
        return None
    return (
        f"{crossings:,} street crossing(s) without a junction: bridges and tunnels stay apart, "
        "but drawn roads whose junctions have no shared vertex need "
        "`gridpatrol load FILE --layer roads --node-crossings`"
    )
