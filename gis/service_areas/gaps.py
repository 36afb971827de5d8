"""Who is beyond the walk limit: every building's walk to its nearest facility of a kind, the
buildings beyond the limit (or not connected at all), totals per community and district, and
the buildings whose nearest facility lies in another district (served across the border).

One multi-source Dijkstra on the graph in memory (``scipy.sparse.csgraph``) from every
facility at once, each source starting with its own straight leg to the street.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from gis.service_areas.network import FloatArray, IntArray, nearest_source
from gis.service_areas.walk import (
    DEFAULT_KIND,
    DEFAULT_MINUTES,
    DEFAULT_WALK_SPEED_KMH,
    WalkCity,
    check_limit,
    community_names,
    load_walk_city,
)


@dataclass(frozen=True)
class NearestWalks:
    """Per building: metres to the nearest facility (``inf``: none connected) and which one."""

    walk_m: FloatArray
    facility: IntArray  # index into the city's facilities; -1: none

    def within(self, limit_m: float) -> np.ndarray:
        return self.walk_m <= limit_m


def nearest_walks(city: WalkCity) -> NearestWalks:
    """Each building's walk to its nearest facility (one multi-source Dijkstra)."""
    n = len(city.buildings)
    if city.graph is None or len(city.facilities) == 0:
        return NearestWalks(np.full(n, np.inf), np.full(n, -1, dtype=np.int64))
    dist, which = nearest_source(city.graph, city.facility_nodes, city.facility_offsets)
    nodes = city.building_nodes
    walk = dist[nodes] + city.building_offsets
    return NearestWalks(walk, np.where(np.isfinite(walk), which[nodes], -1))


@dataclass(frozen=True)
class GapBuilding:
    """A building and its walk to the nearest facility (None: no facility connected)."""

    code: str
    name: str | None
    residents: int
    community_code: str | None
    district_code: str | None
    walk_minutes: float | None
    nearest_facility: str | None
    nearest_facility_district: str | None
    within_limit: bool
    lon: float
    lat: float


@dataclass(frozen=True)
class UnitTotals:
    """Buildings and residents of a community or district, and how many are beyond the limit."""

    code: str | None
    name: str | None
    buildings: int
    residents: int
    beyond_buildings: int
    beyond_residents: int
    not_connected_buildings: int
    across_border_buildings: int


@dataclass(frozen=True)
class Gaps:
    """The answer of ``find_gaps``; lists are paged by ``limit``/``offset``."""

    kind: str
    minutes: float
    walk_speed_kmh: float
    limit_m: float
    facilities: int
    buildings: int
    residents: int
    beyond_buildings: int
    beyond_residents: int
    not_connected_buildings: int
    gaps_matched: int
    across_border_matched: int
    gaps: list[GapBuilding] = field(default_factory=list)
    across_border: list[GapBuilding] = field(default_factory=list)
    by_district: list[UnitTotals] = field(default_factory=list)
    by_community: list[UnitTotals] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _totals(
    keys: list[str | None],
    names: dict[str, str],
    residents: IntArray,
    beyond: np.ndarray,
    unconnected: np.ndarray,
    across: np.ndarray,
) -> list[UnitTotals]:
    frame = pd.DataFrame(
        {
            "key": pd.Series(keys, dtype=object).fillna(""),
            "residents": residents,
            "beyond": beyond,
            "beyond_residents": np.where(beyond, residents, 0),
            "unconnected": unconnected,
            "across": across,
        }
    )
    sums = frame.groupby("key", sort=True).agg(
        buildings=("residents", "size"),
        residents=("residents", "sum"),
        beyond=("beyond", "sum"),
        beyond_residents=("beyond_residents", "sum"),
        unconnected=("unconnected", "sum"),
        across=("across", "sum"),
    )
    return [
        UnitTotals(
            code=str(code) or None,
            name=names.get(str(code)) if code else None,
            buildings=int(row.buildings),
            residents=int(row.residents),
            beyond_buildings=int(row.beyond),
            beyond_residents=int(row.beyond_residents),
            not_connected_buildings=int(row.unconnected),
            across_border_buildings=int(row.across),
        )
        for code, row in sums.iterrows()
    ]


def _row(city: WalkCity, walks: NearestWalks, k: int) -> GapBuilding:
    b = city.buildings
    j = int(walks.facility[k])
    metres = float(walks.walk_m[k])
    finite = np.isfinite(metres)
    return GapBuilding(
        code=b.codes[k],
        name=b.names[k],
        residents=int(b.residents[k]),
        community_code=b.community[k],
        district_code=b.district[k],
        walk_minutes=round(metres / city.limit.metres_per_minute, 2) if finite else None,
        nearest_facility=city.facilities.codes[j] if j >= 0 else None,
        nearest_facility_district=city.facilities.district[j] if j >= 0 else None,
        within_limit=bool(metres <= city.limit.limit_m),
        lon=round(float(b.lon[k]), 7),
        lat=round(float(b.lat[k]), 7),
    )


def summarize_gaps(
    conn: Connection,
    city: WalkCity,
    walks: NearestWalks,
    *,
    limit: int | None,
    offset: int,
    bbox: tuple[float, float, float, float] | None = None,
) -> Gaps:
    """Gaps of ``city`` given its buildings' nearest walks (lists from ``offset``, at most
    ``limit`` rows each; None: all); with ``bbox`` (lon/lat) the lists hold only the buildings
    inside it, the totals still the whole city's."""
    b = city.buildings
    lim = city.limit
    beyond = ~walks.within(lim.limit_m)
    unconnected = ~np.isfinite(walks.walk_m)
    # Districts as numbers (-1: none), the nearest facility's looked up by index.
    number = {code: k for k, code in enumerate(city.districts.codes)}
    own_district = pd.Series(b.district, dtype=object).map(number).fillna(-1).to_numpy(np.int64)
    fac_number = np.array(
        [number.get(d, -1) if d else -1 for d in city.facilities.district] + [-1], dtype=np.int64
    )
    fac_district = fac_number[walks.facility]  # facility -1 picks the trailing -1
    across = (fac_district >= 0) & (own_district >= 0) & (fac_district != own_district)
    listed = np.ones(len(b), dtype=bool)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        listed = (b.lon >= minx) & (b.lon <= maxx) & (b.lat >= miny) & (b.lat <= maxy)
    # Farthest first (not connected at the very top): the worst served lead the list.
    gap_order = np.flatnonzero(beyond & listed)
    gap_order = gap_order[
        np.argsort(-np.nan_to_num(walks.walk_m[gap_order], posinf=1e18), kind="stable")
    ]
    across_order = np.flatnonzero(across & listed)
    across_order = across_order[np.argsort(walks.walk_m[across_order], kind="stable")]
    stop = None if limit is None else offset + limit
    return Gaps(
        kind=lim.kind,
        minutes=lim.minutes,
        walk_speed_kmh=lim.walk_speed_kmh,
        limit_m=round(lim.limit_m, 1),
        facilities=len(city.facilities),
        buildings=len(b),
        residents=int(b.residents.sum()),
        beyond_buildings=int(beyond.sum()),
        beyond_residents=int(b.residents[beyond].sum()),
        not_connected_buildings=int(unconnected.sum()),
        gaps_matched=len(gap_order),
        across_border_matched=len(across_order),
        gaps=[_row(city, walks, int(k)) for k in gap_order[offset:stop]],
        across_border=[_row(city, walks, int(k)) for k in across_order[offset:stop]],
        by_district=_totals(
            b.district, city.districts.names, b.residents, beyond, unconnected, across
        ),
        by_community=_totals(
            b.community, community_names(conn), b.residents, beyond, unconnected, across
        ),
    )


def find_gaps(
    conn: Connection,
    *,
    kind: str = DEFAULT_KIND,
    minutes: float = DEFAULT_MINUTES,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
    limit: int | None = None,
    offset: int = 0,
    bbox: tuple[float, float, float, float] | None = None,
) -> Gaps:
    """Buildings beyond ``minutes`` of walking from every facility of ``kind``, with totals
    (the lists only inside ``bbox`` when given)."""
    walk_limit = check_limit(kind=kind, minutes=minutes, walk_speed_kmh=walk_speed_kmh)
    city = load_walk_city(conn, walk_limit)
    return summarize_gaps(conn, city, nearest_walks(city), limit=limit, offset=offset, bbox=bbox)
