"""Cross-district coverage: communities and grids whose area lies in more than one district,
and the enclave parts (插花地) of communities lying outside their own district.

A unit's own district is its code's 6-digit prefix. Areas are in m² from
``ST_Area(geom::geography)`` (WGS 84 spheroid); a share is a part's area over the unit's whole
area, so the shares of a unit the districts tile sum to 1. Buildings and residents are counted
in the part holding the building's point on surface, so each building counts once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from gis.core.vocabulary import CODE_DIGITS, TABLE_LEVEL, Level, code_prefix
from gis.territory.topology import NOISE_AREA_M2, invalid_codes, valid

Geometry = dict[str, Any]


@dataclass(frozen=True)
class DistrictShare:
    """The part of a unit lying in one district."""

    district_code: str
    district_name: str
    own: bool
    area_m2: float
    share: float
    buildings: int
    residents: int
    geometry: Geometry


@dataclass(frozen=True)
class EnclavePart:
    """One polygon of a community lying in a district other than its own (插花地)."""

    community_code: str
    district_code: str
    area_m2: float
    buildings: int
    residents: int
    geometry: Geometry


@dataclass(frozen=True)
class CrossDistrictUnit:
    """A community or grid spanning more than one district."""

    layer: str
    code: str
    name: str
    own_district_code: str
    area_m2: float
    districts: list[DistrictShare]
    enclave_parts: list[EnclavePart] = field(default_factory=list)


@dataclass(frozen=True)
class CrossDistrictCoverage:
    """Every community and grid spanning districts (``GET /coverage/cross-district``)."""

    communities: list[CrossDistrictUnit]
    grids: list[CrossDistrictUnit]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Units covered by one district are skipped first (index probe + ST_CoveredBy), so only the
# few units on district borders are intersected and measured.
_PARTS = """
WITH units AS (
    SELECT u.code, u.name, {valid_u} AS geom FROM {table} u
    WHERE NOT EXISTS (
        SELECT 1 FROM districts d WHERE d.geom && u.geom AND ST_Covers({valid_d}, {valid_u})
    )
),
parts AS (
    SELECT u.code, u.name, ST_Area(u.geom::geography) AS unit_m2, d.code AS district_code,
           d.name AS district_name,
           ST_CollectionExtract(ST_Intersection(u.geom, {valid_d}), 3) AS geom
    FROM units u JOIN districts d ON d.geom && u.geom AND ST_Intersects(d.geom, u.geom)
),
measured AS (
    SELECT *, ST_Area(geom::geography) AS area_m2 FROM parts WHERE NOT ST_IsEmpty(geom)
),
kept AS (
    SELECT *, count(*) OVER (PARTITION BY code) AS n_districts
    FROM measured WHERE area_m2 >= :noise_m2
)
SELECT k.code, k.name, k.unit_m2, k.district_code, k.district_name, k.area_m2,
       ST_AsGeoJSON(k.geom, 7)::json, people.buildings, people.residents
FROM kept k
CROSS JOIN LATERAL (
    SELECT count(*) AS buildings, COALESCE(sum(b.residents), 0) AS residents
    FROM buildings b
    WHERE b.geom && k.geom AND ST_Intersects(k.geom, ST_PointOnSurface(b.geom))
) people
WHERE k.n_districts > 1
ORDER BY k.code, k.area_m2 DESC
"""

_ENCLAVES = """
WITH parts AS (
    SELECT c.code, d.code AS district_code,
           (ST_Dump(ST_CollectionExtract(ST_Intersection({valid_c}, {valid_d}), 3))).geom AS geom
    FROM communities c
    JOIN districts d ON d.code <> left(c.code, {district_digits}) AND d.geom && c.geom
        AND ST_Relate(d.geom, c.geom, '2********')
)
SELECT p.code, p.district_code, p.area_m2, ST_AsGeoJSON(p.geom, 7)::json,
       people.buildings, people.residents
FROM (SELECT *, ST_Area(geom::geography) AS area_m2 FROM parts) p
CROSS JOIN LATERAL (
    SELECT count(*) AS buildings, COALESCE(sum(b.residents), 0) AS residents
    FROM buildings b
    WHERE b.geom && p.geom AND ST_Intersects(p.geom, ST_PointOnSurface(b.geom))
) people
WHERE p.area_m2 >= :noise_m2
ORDER BY p.code, p.district_code, p.area_m2 DESC
"""


def _find_units(conn: Connection, table: str, invalid: list[str]) -> list[CrossDistrictUnit]:
    sql = _PARTS.format(table=table, valid_u=valid("u.geom"), valid_d=valid("d.geom"))
    units: dict[str, CrossDistrictUnit] = {}
    for row in conn.execute(text(sql), {"noise_m2": NOISE_AREA_M2, "invalid": invalid}):
        code, name, unit_m2, district, district_name, area_m2, geometry, n_bld, n_res = row
        unit = units.setdefault(
            code,
            CrossDistrictUnit(
                layer=TABLE_LEVEL[table],
                code=code,
                name=name,
                own_district_code=code_prefix(code, Level.DISTRICT),
                area_m2=float(unit_m2),
                districts=[],
            ),
        )
        unit.districts.append(
            DistrictShare(
                district_code=district,
                district_name=district_name,
                own=district == code_prefix(code, Level.DISTRICT),
                area_m2=float(area_m2),
                share=float(area_m2) / float(unit_m2),
                buildings=int(n_bld),
                residents=int(n_res),
                geometry=geometry,
            )
        )
    return list(units.values())


def find_enclave_parts(conn: Connection, *, invalid: list[str] | None = None) -> list[EnclavePart]:
    """Each polygon of a community lying in another district than its own, with its people."""
    sql = _ENCLAVES.format(
        valid_c=valid("c.geom"),
        valid_d=valid("d.geom"),
        district_digits=CODE_DIGITS[Level.DISTRICT],
    )
    params = {
        "noise_m2": NOISE_AREA_M2,
        "invalid": invalid if invalid is not None else invalid_codes(conn),
    }
    return [
        EnclavePart(
            community_code=r[0],
            district_code=r[1],
            area_m2=float(r[2]),
            geometry=r[3],
            buildings=int(r[4]),
            residents=int(r[5]),
        )
        for r in conn.execute(text(sql), params)
    ]


def find_cross_district_coverage(conn: Connection) -> CrossDistrictCoverage:
    """Communities and grids spanning districts, their shares and the communities' enclaves."""
    invalid = invalid_codes(conn)
    communities = _find_units(conn, "communities", invalid)
    enclaves: dict[str, list[EnclavePart]] = {}
    for part in find_enclave_parts(conn, invalid=invalid):
        enclaves.setdefault(part.community_code, []).append(part)
    for unit in communities:
        unit.enclave_parts.extend(enclaves.get(unit.code, []))
    return CrossDistrictCoverage(communities=communities, grids=_find_units(conn, "grids", invalid))
