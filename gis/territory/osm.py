"""OpenStreetMap extracts (``.osm.pbf``) as layers: walkable roads and building footprints.

Read with pyosmium in one pass (node locations cached, areas assembled from closed ways and
multipolygon relations), then handed to the same validation and all-or-nothing import as any
other file:

- roads: ways with a ``highway`` tag a person may walk (not motorways, trunk roads, raceways,
  construction; not ``foot=no``), keeping ``name`` and ``oneway`` (walking ignores it);
- buildings: areas with a ``building`` tag, coded ``OSM-w<way id>`` / ``OSM-r<relation id>``,
  with ``name`` and ``building:levels`` as ``floors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import osmium
import shapely

from gis.core.errors import ImportRejected

OSM_LAYERS = ("roads", "buildings")
# Highways pedestrians may not use, or that are not roads yet.
NOT_WALKABLE = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "raceway",
        "bus_guideway",
        "construction",
        "proposed",
        "abandoned",
        "razed",
    }
)


# The ``oneway`` values a roads file may carry (OSM's convention; case-insensitive in files):
# the first four mean one-way.
ONEWAY_VALUES = ("yes", "true", "1", "-1", "no", "false", "0")
ONE_WAY = ONEWAY_VALUES[:4]


def is_osm_file(path: Path) -> bool:
    """True for ``.osm.pbf`` (and ``.pbf``) files."""
    return path.name.lower().endswith(".pbf")


def _walkable(tags: Any) -> bool:
    highway = tags.get("highway")
    if not highway or highway in NOT_WALKABLE:
        return False
    return tags.get("foot") != "no" and tags.get("access") not in ("no", "private")


def _oneway(tags: Any) -> str | None:
    value = tags.get("oneway")
    return value if value in ONEWAY_VALUES else None


def _floors(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def read_osm_layer(path: Path, layer: str) -> gpd.GeoDataFrame:
    """The roads or buildings of an OSM extract as a GeoDataFrame (EPSG:4326)."""
    if layer not in OSM_LAYERS:
        raise ImportRejected(
            f"{path}: an OpenStreetMap extract provides the layers {', '.join(OSM_LAYERS)}, "
            f"not {layer!r}"
        )
    if not path.exists():
        raise ImportRejected(f"{path}: no such file")
    factory = osmium.geom.WKBFactory()
    rows: list[dict[str, Any]] = []
    wkbs: list[bytes] = []
    key = "highway" if layer == "roads" else "building"
    try:
        processor = osmium.FileProcessor(str(path)).with_locations()
        if layer == "buildings":
            processor = processor.with_areas(osmium.filter.KeyFilter("building"))
        for obj in processor.with_filter(osmium.filter.KeyFilter(key)):
            if layer == "roads" and isinstance(obj, osmium.osm.Way) and _walkable(obj.tags):
                try:
                    wkb = factory.create_linestring(obj)
                except (osmium.InvalidLocationError, RuntimeError):
                    continue  # a way cut by the extract's border, or of one node
                wkbs.append(bytes.fromhex(wkb))
                rows.append({"name": obj.tags.get("name"), "oneway": _oneway(obj.tags)})
            elif layer == "buildings" and isinstance(obj, osmium.osm.Area):
                try:
                    wkb = factory.create_multipolygon(obj)
                except (osmium.InvalidLocationError, RuntimeError):
                    continue
                kind = "w" if obj.from_way() else "r"
                wkbs.append(bytes.fromhex(wkb))
                rows.append(
                    {
                        "code": f"OSM-{kind}{obj.orig_id()}",
                        "name": obj.tags.get("name"),
                        "floors": _floors(obj.tags.get("building:levels")),
                    }
                )
    except RuntimeError as exc:  # libosmium: not a PBF, truncated, unreadable
        raise ImportRejected(f"{path}: not a readable OpenStreetMap extract: {exc}") from exc
    if not rows:
        what = "walkable highways" if layer == "roads" else "buildings"
        raise ImportRejected(f"{path}: the extract holds no {what}")
    return gpd.GeoDataFrame(rows, geometry=shapely.from_wkb(wkbs), crs=4326)
