"""The published layers: what a map, QGIS or GDAL sees of each table, declared once.

Each entry says which table a layer reads (``t`` in the SQL), which rows, which properties
(SQL expressions; a property may be left out of tiles to keep them small), its zoom range, and
which tables it depends on (their versions make the ETag). Vector tiles
(``gis.tiles.mvt``) and OGC API Features (``gis.ogc.features``) both read this registry, so
adding a layer is one entry here plus a version trigger on any new source table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from gis.access.policy import Permission
from gis.core.errors import NotFound
from gis.core.vocabulary import OPEN_STATUSES, sql_list
from gis.patrols.scope import plan_scope_condition

GeometryType = Literal["Polygon", "LineString", "Point"]
PropertyType = Literal["String", "Number", "Boolean"]


@dataclass(frozen=True)
class Prop:
    """One published property: its SQL over ``t`` (and the layer's joins) and its type."""

    sql: str
    type: PropertyType = "String"
    description: str = ""
    # Left out of vector tiles (long text a map does not draw); OGC API Features has it.
    tile: bool = True


@dataclass(frozen=True)
class PublishedLayer:
    """A layer served as vector tiles and as an OGC API Features collection."""

    name: str
    title: str
    description: str
    table: str
    geometry_type: GeometryType
    # OGC feature id (``/items/{featureId}``) and the MVT feature id (an unsigned integer).
    feature_id: str
    tile_id: str
    properties: dict[str, Prop]
    # Tables whose changes change this layer (each has a version trigger, migration 0006).
    sources: tuple[str, ...]
    # Stable paging order for OGC items: a unique, indexed column.
    order_by: str = "t.code"
    feature_id_is_integer: bool = False
    # Extra FROM clauses after ``t`` (e.g. a LATERAL count) and a fixed row filter.
    joins: str = ""
    where: str = ""
    # OGC ``datetime`` filters on this column (``None``: the layer has no time).
    datetime: str | None = None
    minzoom: int = 0
    maxzoom: int = 22
    # Simplify by zoom (PostGIS ``ST_Simplify`` to a pixel) before clipping to the tile.
    simplify: bool = True
    tiles: bool = True
    # Properties of a second tile layer ``{name}_labels``: one point per feature
    # (``ST_PointOnSurface``) where a map writes its label.
    labels: tuple[str, ...] = ()
    # Label points only from this zoom (below it a map writes no labels; they cost ~30 %).
    labels_minzoom: int = 14
    # Browsers may reuse a tile this long before revalidating it with its ETag.
    max_age_s: int = 60
    # Who may read it (tiles, TileJSON, OGC collection and items); anything but public data
    # is answered per account: private caching, no cross-origin reading.
    permission: Permission = Permission.READ_PUBLIC
    # With an in-scope grant, the rows an account sees: SQL over ``t`` true when the row
    # belongs to a unit the prefixes ``:scopes`` reach ("" the whole city).
    scope: str = ""

    @property
    def public(self) -> bool:
        return self.permission is Permission.READ_PUBLIC


def _iso(column: str) -> str:
    """An RFC 3339 timestamp string (tiles have no date type), with the offset of the zone
    the connection reads times in (GRIDPATROL_TIMEZONE): as the same report on every route."""
    return f"""to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM')"""


# Numbers as float8: tiles have no decimal type (a numeric would arrive as a string).
_AREA_M2 = Prop(
    "round(ST_Area(t.geom::geography)::numeric, 1)::float8",
    "Number",
    "area in m² (geography)",
    tile=False,
)
_CODE = Prop("t.code", "String", "unit code (hierarchical, national digital city standard)")
_NAME = Prop("t.name", "String", "name")

# Public report fields only: never the reporter's name, phone or photo.
_REPORT_PROPERTIES: dict[str, Prop] = {
    "id": Prop("t.id", "Number", "report id"),
    "category": Prop("t.category", "String", "category (see /categories)"),
    "status": Prop("t.status", "String", "lifecycle status"),
    "reported_at": Prop(_iso("t.reported_at"), "String", "when it was reported (ISO 8601)"),
    # Deadlines still running: a map flags a report overdue when one of them has passed.
    "due_arrival_at": Prop(
        _iso("CASE WHEN t.arrived_at IS NULL THEN t.due_arrival_at END"),
        "String",
        "on-site deadline, while nobody has arrived (ISO 8601)",
    ),
    "due_resolution_at": Prop(
        _iso("CASE WHEN t.resolved_at IS NULL THEN t.due_resolution_at END"),
        "String",
        "resolution deadline, while unresolved (ISO 8601)",
    ),
    "grid_code": Prop("t.grid_code", "String", "grid it was located in"),
    "community_code": Prop("t.community_code", "String", "community"),
    "district_code": Prop("t.district_code", "String", "district"),
    "escalation_level": Prop("t.escalation_level", "String", "level now answerable"),
    "description": Prop("t.description", "String", "what the resident reported", tile=False),
}


def _unit_layer(
    table: str, title: str, description: str, *, parent: str | None = None, **extra: Any
) -> PublishedLayer:
    """A layer of the administrative hierarchy: code, name, parent code, area; keyed by code."""
    properties: dict[str, Prop] = {"code": _CODE, "name": _NAME}
    if parent:
        properties[f"{parent}_code"] = Prop(f"t.{parent}_code", "String", parent)
    properties |= extra.pop("properties", {})
    properties["area_m2"] = _AREA_M2
    return PublishedLayer(
        name=table,
        title=title,
        description=description,
        table=table,
        geometry_type="Polygon",
        feature_id="t.code",
        tile_id="t.code::bigint",
        properties=properties,
        sources=extra.pop("sources", (table,)),
        **extra,
    )


# Layers keyed by their integer id (MVT feature id, OGC feature id and paging order alike).
_BY_ID: dict[str, Any] = {
    "feature_id": "t.id",
    "feature_id_is_integer": True,
    "tile_id": "t.id",
    "order_by": "t.id",
}

_OPEN_REPORTS = PublishedLayer(
    name="open_reports",
    title="待办诉求 Open reports",
    description=(
        "Reports someone still has to act on (reported, accepted, dispatched, in progress); "
        "public fields only."
    ),
    table="reports",
    geometry_type="Point",
    **_BY_ID,
    properties=_REPORT_PROPERTIES,
    where=f"t.status IN ({sql_list(OPEN_STATUSES)})",
    datetime="t.reported_at",
    sources=("reports",),
    simplify=False,
    # Reports change by the minute: revalidate every time (a 304 costs one lookup).
    max_age_s=0,
)

PUBLISHED: dict[str, PublishedLayer] = {
    layer.name: layer
    for layer in (
        _unit_layer("districts", "区 Districts", "Urban districts, the top administrative unit."),
        _unit_layer(
            "subdistricts", "街道 Sub-districts", "Sub-district offices' areas.", parent="district"
        ),
        _unit_layer(
            "communities",
            "社区 Communities",
            "Communities (residents' committees); one may straddle districts.",
            parent="subdistrict",
        ),
        _unit_layer(
            "grids",
            "网格 Grids",
            "Grids, the smallest management unit, with their buildings and residents.",
            parent="community",
            properties={
                "buildings": Prop("n.buildings", "Number", "buildings assigned to the grid"),
                "residents": Prop("n.residents", "Number", "residents of those buildings"),
            },
            # Index-only on ix_buildings_grid_code_residents: the grid's ~100 entries.
            joins=(
                "CROSS JOIN LATERAL (SELECT count(*) AS buildings, "
                "COALESCE(sum(b.residents), 0) AS residents "
                "FROM buildings b WHERE b.grid_code = t.code) n"
            ),
            sources=("grids", "buildings"),
            labels=("code", "name"),
            # Below, a 400 m grid is a few pixels: city-wide, communities tell more (and a
            # z10 tile of a 10,000-grid city weighs 800 KB).
            minzoom=11,
        ),
        PublishedLayer(
            name="buildings",
            title="楼栋 Buildings",
            description="Building footprints with the grid holding most of each.",
            table="buildings",
            geometry_type="Polygon",
            feature_id="t.code",
            tile_id="t.id",
            order_by="t.id",
            properties={
                "code": Prop("t.code", "String", "building code"),
                "name": _NAME,
                "floors": Prop("t.floors", "Number", "floors"),
                "households": Prop("t.households", "Number", "households"),
                "residents": Prop("t.residents", "Number", "residents"),
                "grid_code": Prop("t.grid_code", "String", "grid holding most of the footprint"),
                "grid_share": Prop(
                    "round(t.grid_share::numeric, 3)::float8",
                    "Number",
                    "share of the footprint in it",
                ),
            },
            sources=("buildings",),
            # A z14 tile (2 km) holds a few thousand footprints; below that, grids say more.
            minzoom=14,
        ),
        PublishedLayer(
            name="facilities",
            title="部件 Facilities",
            description="Point assets: service stations, checkpoints, waste points, cameras.",
            table="facilities",
            geometry_type="Point",
            feature_id="t.code",
            tile_id="t.id",
            order_by="t.id",
            properties={
                "code": Prop("t.code", "String", "facility code"),
                "kind": Prop("t.kind", "String", "kind of facility"),
                "name": _NAME,
                "grid_code": Prop("t.grid_code", "String", "grid it stands in"),
            },
            sources=("facilities",),
            minzoom=13,
            simplify=False,
        ),
        PublishedLayer(
            name="roads",
            title="道路 Roads",
            description="The street network patrols walk on.",
            table="roads",
            geometry_type="LineString",
            **_BY_ID,
            properties={
                "id": Prop("t.id", "Number", "segment id"),
                "name": _NAME,
                "length_m": Prop(
                    "round(t.length_m::numeric, 1)::float8",
                    "Number",
                    "length in metres (geography)",
                ),
            },
            sources=("roads",),
            minzoom=12,
        ),
        PublishedLayer(
            name="patrol_routes",
            title="巡查路线 Patrol routes",
            description="Planned patrol routes along the street network, one per patroller.",
            table="patrol_routes",
            geometry_type="LineString",
            **_BY_ID,
            properties={
                "id": Prop("t.id", "Number", "route id"),
                "plan_id": Prop("t.plan_id", "Number", "the patrol plan"),
                "seq": Prop("t.seq", "Number", "the route's number in its plan"),
                "mode": Prop("p.mode", "String", "joint or by_district"),
                "district_code": Prop("t.district_code", "String", "the patroller's district"),
                "length_m": Prop(
                    "round(t.length_m::numeric, 1)::float8",
                    "Number",
                    "length in metres (geography)",
                ),
                "duration_minutes": Prop(
                    "round(t.duration_minutes::numeric, 1)::float8", "Number", "planned minutes"
                ),
                "depart_at": Prop(_iso("t.depart_at"), "String", "planned departure (ISO 8601)"),
            },
            # A patrol schedule (who walks where, when) is not public: accounts allowed to
            # read patrols see the routes of plans of their units, as on /patrols. The
            # patroller's name stays on the plan's own endpoints.
            permission=Permission.READ_PATROLS,
            scope=plan_scope_condition("t.plan_id"),
            joins="JOIN patrol_plans p ON p.id = t.plan_id",
            # A patroller given no stop has no line.
            where="t.geom IS NOT NULL",
            datetime="t.depart_at",
            sources=("patrol_routes", "patrol_plans"),
            minzoom=10,
        ),
        _OPEN_REPORTS,
        replace(
            _OPEN_REPORTS,
            name="reports",
            title="诉求 Reports (all)",
            description="Every report, open or closed, public fields only; for analysis.",
            properties={
                **_REPORT_PROPERTIES,
                "closed_at": Prop(_iso("t.closed_at"), "String", "when it was closed (ISO 8601)"),
            },
            where="",
            # Millions of points are for analysis in a desktop GIS, not for map tiles.
            tiles=False,
        ),
    )
}


def get_published(name: str, *, tiles: bool = False) -> PublishedLayer:
    """The published layer ``name`` (one served as tiles when ``tiles``); ``NotFound`` listing
    the known ones otherwise."""
    layer = PUBLISHED.get(name)
    if layer is None or (tiles and not layer.tiles):
        known = [n for n, spec in PUBLISHED.items() if spec.tiles or not tiles]
        kind = "tile layer" if tiles else "collection"
        raise NotFound(f"unknown {kind} {name!r}; expected one of: {', '.join(known)}")
    return layer
