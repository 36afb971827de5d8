"""Topology validation of the grid layer: gaps, overlaps, grids outside their community,
invalid geometries and code problems, each found by one set-based SQL statement.

Areas are in square metres from ``ST_Area(geom::geography)`` (on the WGS 84 spheroid): the
problem polygons are few and small, so geography's cost does not matter and no projected CRS
has to be chosen for the data's extent.

Invalid polygons would make GEOS overlay fail, so every analysis reads grids and communities
through ``ST_MakeValid`` *in the query only*; the stored geometry is repaired solely by the
explicit ``repair_geometries`` (``gridpatrol repair``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.core.vocabulary import CODE_DIGITS, LEVEL_TABLE, PARENT_LEVEL, Level, code_column
from gis.routing.reach import NetworkReport, network_report
from gis.territory.assignment import (
    SplitBuilding,
    UnassignedBuilding,
    find_split_buildings,
    find_unassigned_buildings,
)
from gis.territory.codes import code_problem
from gis.territory.layers import database_is_empty

# Pieces below this are floating-point residue of overlay, not something a person drew:
# 0.01 m² is a 10 cm square, two orders below the smallest sliver worth reporting.
NOISE_AREA_M2 = 0.01
# Layers whose polygons are checked for validity, with the column that names a feature.
POLYGON_LAYERS = {**dict.fromkeys(LEVEL_TABLE.values(), "code"), "buildings": "code"}
# The tables a city-wide validation reads: the polygon layers and, for the street network's
# reach, the roads it is built from and the service stations (a cache of a report is good
# until one of these changes).
VALIDATION_SOURCES = (*POLYGON_LAYERS, "facilities", "roads")
# The layers whose polygons overlay reads (sub-districts take no part in any analysis here).
OVERLAY_LAYERS = tuple(
    LEVEL_TABLE[level] for level in (Level.DISTRICT, Level.COMMUNITY, Level.GRID)
)
Geometry = dict[str, Any]


def valid(column: str) -> str:
    """SQL reading ``column`` (``alias.geom``) as a valid (multi)polygon.

    Rows whose code is in the ``:invalid`` parameter (from ``invalid_codes``) are repaired in
    the query; testing validity once beforehand instead of per use saves a third of the time
    of the pair searches on a city of 10,000 grids.
    """
    key = column.removesuffix("geom") + "code"
    return (
        f"(CASE WHEN {key} = ANY(CAST(:invalid AS text[])) "
        f"THEN ST_CollectionExtract(ST_MakeValid({column}), 3) ELSE {column} END)"
    )


def invalid_codes(conn: Connection) -> list[str]:
    """Codes of the invalid districts, communities and grids (the layers overlay reads)."""
    return list(
        conn.execute(
            text(
                " UNION ALL ".join(
                    f"SELECT code::text FROM {layer} WHERE NOT ST_IsValid(geom)"
                    for layer in OVERLAY_LAYERS
                )
            )
        ).scalars()
    )


# Communities in scope: all, or the ones named (``validate --grids FILE`` checks only the
# communities the file's grids belong to).
_SCOPE = "(CAST(:scope AS text[]) IS NULL OR {column} = ANY(CAST(:scope AS text[])))"


@dataclass(frozen=True)
class Gap:
    """Part of a community covered by none of its grids."""

    community_code: str
    area_m2: float
    geometry: Geometry


@dataclass(frozen=True)
class Overlap:
    """Area covered by two grids (of one community, or of two)."""

    grid_codes: tuple[str, str]
    community_codes: tuple[str, str]
    area_m2: float
    geometry: Geometry


@dataclass(frozen=True)
class OutsideCommunity:
    """Part of a grid lying outside its own community, and the communities it reaches into."""

    grid_code: str
    community_code: str
    into_community_codes: list[str]
    area_m2: float
    grid_share_inside: float
    geometry: Geometry


@dataclass(frozen=True)
class InvalidGeometry:
    """A stored polygon PostGIS/GEOS rejects as invalid, with GEOS's reason and where."""

    layer: str
    code: str
    reason: str
    location: Geometry | None


@dataclass(frozen=True)
class CodeProblem:
    """A malformed or duplicate code, or one whose prefix disagrees with its parent."""

    layer: str
    code: str
    problem: str


@dataclass(frozen=True)
class TopologyReport:
    """Everything ``validate`` finds; slivers are warnings, everything else a problem."""

    sliver_area_m2: float
    split_share: float
    gaps: list[Gap] = field(default_factory=list)
    slivers: list[Gap] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)
    outside_community: list[OutsideCommunity] = field(default_factory=list)
    invalid_geometries: list[InvalidGeometry] = field(default_factory=list)
    code_problems: list[CodeProblem] = field(default_factory=list)
    split_buildings: list[SplitBuilding] = field(default_factory=list)
    unassigned_buildings: list[UnassignedBuilding] = field(default_factory=list)
    # The street network: components, and what its main component does not reach.
    network: NetworkReport | None = None
    # No territory loaded: nothing was checked, which is not "clean".
    empty: bool = False

    @property
    def problem_count(self) -> int:
        """Problems that make ``validate`` exit non-zero (slivers are not among them)."""
        return (
            (self.network.problem_count if self.network else 0)
            + len(self.gaps)
            + len(self.overlaps)
            + len(self.outside_community)
            + len(self.invalid_geometries)
            + len(self.code_problems)
            + len(self.split_buildings)
            + len(self.unassigned_buildings)
        )

    @property
    def ok(self) -> bool:
        """No problem found in a database that holds a territory to check."""
        return self.problem_count == 0 and not self.empty

    def counts(self) -> dict[str, int]:
        """Number of findings per kind."""
        return {
            name: len(getattr(self, name))
            for name in (
                "gaps",
                "slivers",
                "overlaps",
                "outside_community",
                "invalid_geometries",
                "code_problems",
                "split_buildings",
                "unassigned_buildings",
            )
        }

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON shape of the report (``--json`` and ``GET /topology``)."""
        body = asdict(self)
        return {
            "ok": self.ok,
            "problem_count": self.problem_count,
            "counts": self.counts(),
            **body,
        }


_GAPS = f"""
WITH scope AS (
    SELECT code, {valid("geom")} AS geom FROM communities WHERE {_SCOPE.format(column="code")}
),
covered AS (
    SELECT g.community_code AS code, ST_Union({valid("g.geom")}) AS geom
    FROM grids g JOIN scope s ON s.code = g.community_code
    GROUP BY g.community_code
),
holes AS (
    SELECT s.code, (ST_Dump(
        ST_Difference(s.geom, COALESCE(c.geom, ST_GeomFromText('POLYGON EMPTY', 4326)))
    )).geom AS geom
    FROM scope s LEFT JOIN covered c USING (code)
)
SELECT code, area_m2, ST_AsGeoJSON(geom, 8)::json AS geometry
FROM (SELECT code, geom, ST_Area(geom::geography) AS area_m2 FROM holes
      WHERE ST_Dimension(geom) = 2) h
WHERE area_m2 >= :noise_m2
ORDER BY code, area_m2 DESC
"""

# The index drives the pair search (a.geom && b.geom); only touching pairs reach GEOS, and a
# shared edge (dimension 1) is not an overlap.
_OVERLAPS = f"""
SELECT code_a, code_b, community_a, community_b, area_m2, ST_AsGeoJSON(geom, 8)::json
FROM (
    SELECT a.code AS code_a, b.code AS code_b, a.community_code AS community_a,
           b.community_code AS community_b, part.geom, ST_Area(part.geom::geography) AS area_m2
    FROM grids a
    JOIN grids b ON a.code < b.code AND a.geom && b.geom
    CROSS JOIN LATERAL (
        SELECT ST_CollectionExtract(ST_Intersection({valid("a.geom")}, {valid("b.geom")}), 3)
            AS geom
    ) part
    WHERE ({_SCOPE.format(column="a.community_code")} OR {_SCOPE.format(column="b.community_code")})
      AND ST_Relate({valid("a.geom")}, {valid("b.geom")}, '2********')
) o
WHERE area_m2 >= :noise_m2
ORDER BY code_a, code_b
"""

_OUTSIDE = f"""
WITH g AS (
    SELECT g.code, g.community_code, {valid("g.geom")} AS geom, {valid("c.geom")} AS cgeom
    FROM grids g JOIN communities c ON c.code = g.community_code
    WHERE {_SCOPE.format(column="g.community_code")}
),
outside AS (
    SELECT code, community_code,
           ST_Area(ST_Intersection(geom, cgeom)::geography)
               / NULLIF(ST_Area(geom::geography), 0) AS share_inside,
           ST_CollectionExtract(ST_Difference(geom, cgeom), 3) AS geom
    FROM g
    -- Fast path: a grid covered by its community has nothing outside it.
    WHERE NOT ST_CoveredBy(geom, cgeom)
)
SELECT o.code, o.community_code, o.share_inside, o.area_m2, ST_AsGeoJSON(o.geom, 8)::json,
       ARRAY(
           SELECT c.code FROM communities c
           WHERE c.code <> o.community_code AND c.geom && o.geom
             AND ST_Relate({valid("c.geom")}, o.geom, '2********')
           ORDER BY c.code
       ) AS into_codes
FROM (SELECT *, ST_Area(geom::geography) AS area_m2 FROM outside) o
WHERE o.area_m2 >= :noise_m2
ORDER BY o.code
"""

# Validity is tested in plain scans (the buildings' one runs in parallel workers); GEOS's
# reason and location are asked only for the few invalid rows.
_INVALID = (
    "WITH bad AS MATERIALIZED ("
    + " UNION ALL ".join(
        f"SELECT '{layer}' AS layer, {key}::text AS code, geom FROM {layer} "
        "WHERE NOT ST_IsValid(geom)"
        for layer, key in POLYGON_LAYERS.items()
    )
    + """)
SELECT layer, code, (d).reason, ST_AsGeoJSON((d).location, 8)::json
FROM (SELECT layer, code, ST_IsValidDetail(geom) AS d FROM bad) x"""
)


def _code_sql(level: Level) -> str:
    """Duplicate codes, and codes whose prefix disagrees with the parent column or parent row."""
    layer = LEVEL_TABLE[level]
    parts = [
        f"SELECT code::text, 'duplicate code (' || count(*) || ' features)' FROM {layer} "
        "GROUP BY code HAVING count(*) > 1"
    ]
    parent_level = PARENT_LEVEL.get(level)
    if parent_level is not None:
        parent, parent_column = LEVEL_TABLE[parent_level], code_column(parent_level)
        digits = CODE_DIGITS[parent_level]
        parts.append(
            f"""SELECT t.code::text,
                   CASE WHEN left(t.code, {digits}) <> t.{parent_column}
                        THEN 'prefix ' || left(t.code, {digits}) || ' disagrees with '
                             || '{parent_column} ' || t.{parent_column}
                        ELSE 'parent {parent} ' || left(t.code, {digits}) || ' does not exist'
                   END
                FROM {layer} t
                WHERE left(t.code, {digits}) IS DISTINCT FROM t.{parent_column}
                   OR NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.code = left(t.code, {digits}))"""
        )
    return " UNION ALL ".join(parts)


def _params(
    conn: Connection, scope: Sequence[str] | None, invalid: Sequence[str] | None
) -> dict[str, Any]:
    return {
        "scope": _scope(scope),
        "noise_m2": NOISE_AREA_M2,
        "invalid": list(invalid) if invalid is not None else invalid_codes(conn),
    }


def find_gaps(
    conn: Connection,
    *,
    scope: Sequence[str] | None = None,
    invalid: Sequence[str] | None = None,
) -> list[Gap]:
    """Parts of each community covered by none of its grids, largest first (area in m²).

    ``invalid``: codes from ``invalid_codes`` when the caller has them already.
    """
    rows = conn.execute(text(_GAPS), _params(conn, scope, invalid))
    return [Gap(community_code=r[0], area_m2=float(r[1]), geometry=r[2]) for r in rows]


def find_overlaps(
    conn: Connection,
    *,
    scope: Sequence[str] | None = None,
    invalid: Sequence[str] | None = None,
) -> list[Overlap]:
    """Every pair of grids whose interiors overlap, with the shared polygon (area in m²)."""
    rows = conn.execute(text(_OVERLAPS), _params(conn, scope, invalid))
    return [
        Overlap(
            grid_codes=(r[0], r[1]),
            community_codes=(r[2], r[3]),
            area_m2=float(r[4]),
            geometry=r[5],
        )
        for r in rows
    ]


def find_grids_outside_community(
    conn: Connection,
    *,
    scope: Sequence[str] | None = None,
    invalid: Sequence[str] | None = None,
) -> list[OutsideCommunity]:
    """Grids reaching outside their own community, with the communities they reach into."""
    rows = conn.execute(text(_OUTSIDE), _params(conn, scope, invalid))
    return [
        OutsideCommunity(
            grid_code=r[0],
            community_code=r[1],
            grid_share_inside=float(r[2] or 0.0),
            area_m2=float(r[3]),
            geometry=r[4],
            into_community_codes=list(r[5]),
        )
        for r in rows
    ]


def find_invalid_geometries(conn: Connection) -> list[InvalidGeometry]:
    """Stored polygons GEOS finds invalid, with its reason and the location of the fault."""
    rows = conn.execute(text(_INVALID + " ORDER BY 1, 2"))
    return [InvalidGeometry(layer=r[0], code=r[1], reason=r[2], location=r[3]) for r in rows]


def find_code_problems(
    conn: Connection, *, outside: Sequence[OutsideCommunity] = ()
) -> list[CodeProblem]:
    """Malformed, duplicate and prefix-disagreeing codes of every administrative layer.

    ``outside`` (from ``find_grids_outside_community``) adds grids lying mostly in a community
    other than the one their code names: the code's prefix disagrees with where the grid is.
    """
    problems: list[CodeProblem] = []
    for level, layer in LEVEL_TABLE.items():
        # Format rules live in gis.territory.codes (shared with the importer); codes are few.
        for code in conn.execute(text(f"SELECT code::text FROM {layer}")).scalars():
            problem = code_problem(layer, code)
            if problem:
                problems.append(CodeProblem(layer=layer, code=code, problem=problem))
        for code, problem in conn.execute(text(_code_sql(level))):
            problems.append(CodeProblem(layer=layer, code=code, problem=problem))
    for grid in outside:
        if grid.grid_share_inside < 0.5 and grid.into_community_codes:
            problems.append(
                CodeProblem(
                    layer="grids",
                    code=grid.grid_code,
                    problem=(
                        f"code names community {grid.community_code} but "
                        f"{1 - grid.grid_share_inside:.0%} of the grid lies outside it "
                        f"(in {', '.join(grid.into_community_codes)})"
                    ),
                )
            )
    return sorted(problems, key=lambda p: (p.layer, p.code, p.problem))


def validate_topology(
    conn: Connection,
    *,
    sliver_area_m2: float,
    split_share: float,
    scope: Sequence[str] | None = None,
) -> TopologyReport:
    """The full topology report, city-wide or for the communities in ``scope``.

    The thresholds' defaults are the settings' (``GRIDPATROL_SLIVER_AREA_M2``,
    ``GRIDPATROL_SPLIT_SHARE``): callers pass them.

    ``sliver_area_m2``: gaps smaller than this are reported as slivers (warnings);
    ``split_share``: buildings whose largest grid holds less than this share are split.
    """
    if sliver_area_m2 < 0:
        raise InvalidInput("sliver_area_m2 must not be negative")
    if not 0 < split_share <= 1:
        raise InvalidInput("split_share must be in (0, 1]")
    bad = find_invalid_geometries(conn)
    invalid = [g.code for g in bad if g.layer in OVERLAY_LAYERS]
    holes = find_gaps(conn, scope=scope, invalid=invalid)
    outside = find_grids_outside_community(conn, scope=scope, invalid=invalid)
    return TopologyReport(
        sliver_area_m2=sliver_area_m2,
        split_share=split_share,
        gaps=[g for g in holes if g.area_m2 >= sliver_area_m2],
        slivers=[g for g in holes if g.area_m2 < sliver_area_m2],
        overlaps=find_overlaps(conn, scope=scope, invalid=invalid),
        outside_community=outside,
        invalid_geometries=bad,
        code_problems=find_code_problems(conn, outside=outside),
        split_buildings=find_split_buildings(conn, min_share=split_share, scope=scope),
        unassigned_buildings=find_unassigned_buildings(conn, scope=scope),
        network=network_report(conn) if scope is None else None,
        empty=database_is_empty(conn),
    )


def _scope(scope: Sequence[str] | None) -> list[str] | None:
    return list(scope) if scope is not None else None
