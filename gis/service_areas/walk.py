"""What every service-area analysis starts from: the checked parameters, the city's buildings and
facilities read in one statement each, snapped onto the street network held in memory.

A building's walk to a facility: straight from its point on surface to the nearest street
(snapped onto the edge), along the streets, straight from the street to the facility (also
snapped onto its edge); at ``walk_speed_kmh``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.service_areas.network import (
    FloatArray,
    IntArray,
    Snapped,
    Streets,
    WalkGraph,
    build_walk_graph,
    load_streets,
    snap,
)
from gis.territory.importing import FACILITY_KINDS

DEFAULT_KIND = "service_station"
DEFAULT_MINUTES = 15.0
DEFAULT_WALK_SPEED_KMH = 4.5
MAX_MINUTES = 120.0
MIN_WALK_SPEED_KMH, MAX_WALK_SPEED_KMH = 1.0, 10.0


@dataclass(frozen=True)
class WalkLimit:
    """A facility kind and how far its walk reaches: ``minutes`` at ``walk_speed_kmh``."""

    kind: str
    minutes: float
    walk_speed_kmh: float

    @property
    def metres_per_minute(self) -> float:
        return self.walk_speed_kmh * 1000.0 / 60.0

    @property
    def limit_m(self) -> float:
        """The longest walk within the limit, in metres."""
        return self.minutes * self.metres_per_minute

    def minutes_for(self, metres: FloatArray) -> FloatArray:
        return metres / self.metres_per_minute


def check_limit(
    *,
    kind: str = DEFAULT_KIND,
    minutes: float = DEFAULT_MINUTES,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
) -> WalkLimit:
    """The parameters, or ``InvalidInput`` naming the one out of range."""
    if kind not in FACILITY_KINDS:
        raise InvalidInput(
            f"unknown facility kind {kind!r}; expected one of: {', '.join(FACILITY_KINDS)}"
        )
    if not (math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
        raise InvalidInput(
            f"minutes must be more than 0 and at most {MAX_MINUTES:g}, got {minutes}"
        )
    if not (
        math.isfinite(walk_speed_kmh) and MIN_WALK_SPEED_KMH <= walk_speed_kmh <= MAX_WALK_SPEED_KMH
    ):
        raise InvalidInput(
            f"walk_speed_kmh must be between {MIN_WALK_SPEED_KMH:g} and {MAX_WALK_SPEED_KMH:g}, "
            f"got {walk_speed_kmh}"
        )
    return WalkLimit(kind=kind, minutes=float(minutes), walk_speed_kmh=float(walk_speed_kmh))


@dataclass(frozen=True)
class Places:
    """Buildings or facilities as columns: codes, names, residents, units, lon/lat."""

    ids: IntArray
    codes: list[str]
    names: list[str | None]
    residents: IntArray
    community: list[str | None]
    district: list[str | None]
    lon: FloatArray
    lat: FloatArray

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class Districts:
    """District codes, names and polygons (for where a point lies)."""

    codes: list[str]
    names: dict[str, str]
    geoms: npt.NDArray[np.object_]

    def locate(self, lon: FloatArray, lat: FloatArray) -> list[str | None]:
        """The district each point lies in (None: in none)."""
        found = np.full(len(lon), len(self.codes), dtype=np.int64)
        for k, geom in enumerate(self.geoms):
            shapely.prepare(geom)
            hit = shapely.contains_xy(geom, lon, lat) & (found == len(self.codes))
            found[hit] = k
        named = np.array([*self.codes, None], dtype=object)
        return list(named[found])


def load_districts(conn: Connection) -> Districts:
    rows = conn.execute(
        text("SELECT code, name, ST_AsBinary(geom) FROM districts ORDER BY code")
    ).all()
    return Districts(
        codes=[r[0] for r in rows],
        names={r[0]: r[1] for r in rows},
        geoms=shapely.from_wkb([bytes(r[2]) for r in rows]) if rows else np.array([], dtype=object),
    )


def community_names(conn: Connection) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute(text("SELECT code, name FROM communities"))}


_BUILDINGS = """
SELECT b.id, b.code, b.name, coalesce(b.residents, 0), left(b.grid_code, 12),
       ST_X(p), ST_Y(p)
FROM buildings b CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS p) s
ORDER BY b.id
"""

_FACILITIES = """
SELECT f.id, f.code, f.name, 0, left(f.grid_code, 12), ST_X(f.geom), ST_Y(f.geom)
FROM facilities f WHERE {where} ORDER BY f.code
"""


def _places(conn: Connection, sql: str, districts: Districts, **params: object) -> Places:
    rows = conn.execute(text(sql), params).all()
    # Column by column (a million buildings: no Python loop per row and field).
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 7
    lon = np.array(cols[5], dtype=np.float64)
    lat = np.array(cols[6], dtype=np.float64)
    return Places(
        ids=np.array(cols[0], dtype=np.int64),
        codes=list(cols[1]),
        names=list(cols[2]),
        residents=np.array(cols[3], dtype=np.int64),
        community=list(cols[4]),
        district=districts.locate(lon, lat),
        lon=lon,
        lat=lat,
    )


def load_buildings(conn: Connection, districts: Districts) -> Places:
    """Every building at its point on surface, with its community (by its grid) and the
    district it lies in (by location: a community may straddle districts)."""
    return _places(conn, _BUILDINGS, districts)


def load_facilities(
    conn: Connection, districts: Districts, *, kind: str, other_kinds: bool = False
) -> Places:
    """Facilities of ``kind`` (or, with ``other_kinds``, of every other kind)."""
    where = "f.kind <> :kind" if other_kinds else "f.kind = :kind"
    return _places(conn, _FACILITIES.format(where=where), districts, kind=kind)


@dataclass(frozen=True)
class WalkCity:
    """Buildings, facilities and extra points snapped onto one walk graph.

    Point nodes are numbered buildings first, then facilities, then the extra points.
    """

    limit: WalkLimit
    districts: Districts
    buildings: Places
    facilities: Places
    graph: WalkGraph | None
    snapped: Snapped | None

    def nodes(self, start: int, count: int) -> IntArray:
        assert self.graph is not None
        return self.graph.point_node[start : start + count]

    def offsets(self, start: int, count: int) -> FloatArray:
        assert self.snapped is not None
        return self.snapped.offset_m[start : start + count]

    @property
    def building_nodes(self) -> IntArray:
        return self.nodes(0, len(self.buildings))

    @property
    def building_offsets(self) -> FloatArray:
        return self.offsets(0, len(self.buildings))

    @property
    def facility_nodes(self) -> IntArray:
        return self.nodes(len(self.buildings), len(self.facilities))

    @property
    def facility_offsets(self) -> FloatArray:
        return self.offsets(len(self.buildings), len(self.facilities))

    def extra_nodes(self, count: int) -> IntArray:
        return self.nodes(len(self.buildings) + len(self.facilities), count)

    def extra_offsets(self, count: int) -> FloatArray:
        return self.offsets(len(self.buildings) + len(self.facilities), count)


def load_walk_city(
    conn: Connection,
    limit: WalkLimit,
    *,
    extra: Sequence[tuple[float, float]] = (),
    streets: Streets | None = None,
) -> WalkCity:
    """Read the buildings and the facilities of ``limit.kind`` and snap them, with the
    ``extra`` (lon, lat) points, onto the street network (``graph`` None without streets)."""
    districts = load_districts(conn)
    buildings = load_buildings(conn, districts)
    facilities = load_facilities(conn, districts, kind=limit.kind)
    streets = streets if streets is not None else load_streets(conn)
    if streets is None:
        return WalkCity(limit, districts, buildings, facilities, None, None)
    lon = np.concatenate([buildings.lon, facilities.lon, np.array([p[0] for p in extra])])
    lat = np.concatenate([buildings.lat, facilities.lat, np.array([p[1] for p in extra])])
    snapped = snap(streets, lon, lat)
    return WalkCity(
        limit, districts, buildings, facilities, build_walk_graph(streets, snapped), snapped
    )
