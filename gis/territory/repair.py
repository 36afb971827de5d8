"""Explicit repair of invalid stored polygons with ``ST_MakeValid`` (never done silently)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput
from gis.territory.assignment import assign_buildings
from gis.territory.topology import POLYGON_LAYERS


@dataclass(frozen=True)
class RepairedGeometry:
    """One polygon ``repair_geometries`` rewrote; areas in m² (geography) before and after."""

    layer: str
    code: str
    reason: str
    area_before_m2: float
    area_after_m2: float


# ST_MakeValid may return lines or points along with the polygons (a collapsed spike): keep
# the polygonal part, which is what the layer's MULTIPOLYGON column can hold. The area before
# is measured on the invalid input's rings as stored (what a user saw on the map).
_REPAIR = """
WITH fixed AS (
    SELECT t.{key} AS key, ST_IsValidReason(t.geom) AS reason,
           ST_Area(t.geom::geography) AS area_before_m2,
           ST_Multi(ST_CollectionExtract(ST_MakeValid(t.geom), 3)) AS geom
    FROM {layer} t
    WHERE NOT ST_IsValid(t.geom)
)
UPDATE {layer} t SET geom = fixed.geom
FROM fixed
WHERE t.{key} = fixed.key
RETURNING t.{key}::text, fixed.reason, fixed.area_before_m2, ST_Area(fixed.geom::geography)
"""


def repair_geometries(
    conn: Connection, *, layers: Sequence[str] | None = None
) -> list[RepairedGeometry]:
    """Rewrite every invalid polygon of ``layers`` (all polygon layers by default) with
    ``ST_MakeValid``, then re-run the building assignment when grids or buildings changed."""
    chosen = list(layers) if layers else list(POLYGON_LAYERS)
    unknown = [name for name in chosen if name not in POLYGON_LAYERS]
    if unknown:
        raise InvalidInput(
            f"cannot repair layer(s) {', '.join(unknown)}; polygon layers are: "
            + ", ".join(POLYGON_LAYERS)
        )
    repaired: list[RepairedGeometry] = []
    for layer in chosen:
        sql = _REPAIR.format(layer=layer, key=POLYGON_LAYERS[layer])
        for code, reason, before, after in conn.execute(text(sql)):
            repaired.append(
                RepairedGeometry(
                    layer=layer,
                    code=code,
                    reason=reason,
                    area_before_m2=float(before),
                    area_after_m2=float(after),
                )
            )
    if any(r.layer in ("grids", "buildings") for r in repaired):
        assign_buildings(conn)
    return sorted(repaired, key=lambda r: (r.layer, r.code))
