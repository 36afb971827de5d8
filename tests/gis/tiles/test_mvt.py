"""Tiles decoded with mapbox-vector-tile hold exactly the features the database says they
should: computed apart with pyproj + shapely (source geometries in EPSG:3857 against the tile
envelope worked out here, not by PostGIS), with the right properties and geometry."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box, shape
from sqlalchemy import Connection, Engine, text

from gis.core.errors import InvalidParameter
from gis.core.vocabulary import OPEN_STATUSES
from gis.tiles.mvt import BUFFER, EXTENT, LABEL_BUFFER, render_tile, simplify_tolerance_m
from gis.tiles.registry import PUBLISHED

HALF_WORLD_M = 20037508.342789244

# An ISO 8601 time to the second with its offset (the configured zone's, never "Z").
ISO_SECONDS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tile_box(z: int, x: int, y: int) -> tuple[float, float, float, float, float]:
    """minx, miny, maxx, maxy of tile z/x/y in EPSG:3857, and its width."""
    size = 2 * HALF_WORLD_M / 2**z
    minx = -HALF_WORLD_M + x * size
    maxy = HALF_WORLD_M - y * size
    return minx, maxy - size, minx + size, maxy, size


def decode(data: bytes) -> dict[str, Any]:
    # y down: raw tile coordinates, turned into metres below.
    return dict(mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}))


def to_3857(geometry: dict[str, Any], z: int, x: int, y: int) -> shapely.Geometry:
    minx, _, _, maxy, size = tile_box(z, x, y)
    unit = size / EXTENT
    scale = np.array([unit, -unit])
    offset = np.array([minx, maxy])
    return shapely.transform(shape(geometry), lambda xy: offset + xy * scale)


def source(conn: Connection, sql: str) -> gpd.GeoDataFrame:
    frame = gpd.read_postgis(sql, conn, geom_col="geom")
    return frame.to_crs(3857)


def expected_ids(frame: gpd.GeoDataFrame, key: str, z: int, x: int, y: int) -> tuple[set, set]:  # type: ignore[type-arg]
    """(must, may): ids clearly inside the tile, and ids reaching the buffered tile."""
    minx, miny, maxx, maxy, size = tile_box(z, x, y)
    unit = size / EXTENT
    inner = box(minx + unit, miny + unit, maxx - unit, maxy - unit)
    pad = (BUFFER + 1) * unit
    outer = box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    must = set(frame.loc[frame.intersects(inner), key])
    may = set(frame.loc[frame.intersects(outer), key])
    return must, may


def city_tiles(conn: Connection, z: int) -> list[tuple[int, int, int]]:
    minx, miny, maxx, maxy = conn.execute(
        text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
             "(SELECT ST_Extent(geom)::geometry e FROM districts) s")
    ).one()  # fmt: skip
    x0, y0 = tile_of(minx, maxy, z)
    x1, y1 = tile_of(maxx, miny, z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


@pytest.fixture(scope="module")
def demo(shared_demo_engine: Engine) -> dict[str, Any]:
    with shared_demo_engine.connect() as conn:
        buildings = source(
            conn,
            "SELECT id, code, name, floors, households, residents, grid_code, grid_share, geom "
            "FROM buildings",
        )
        grids = source(conn, "SELECT code, name, community_code, geom FROM grids")
        per_grid = Counter(buildings["grid_code"].dropna())
        residents = buildings.groupby("grid_code")["residents"].sum()
        grids["buildings"] = [per_grid.get(c, 0) for c in grids["code"]]
        grids["residents"] = [int(residents.get(c, 0)) for c in grids["code"]]
        grids["fid"] = grids["code"].astype("int64")
        return {
            "grids": grids,
            "buildings": buildings.rename(columns={"id": "fid"}),
            "communities": source(conn, "SELECT code, name, geom FROM communities").assign(
                fid=lambda f: f["code"].astype("int64")
            ),
            "roads": source(conn, "SELECT id AS fid, name, geom FROM roads"),
            "facilities": source(conn, "SELECT id AS fid, code, kind, geom FROM facilities"),
            "open_reports": source(
                conn,
                "SELECT id AS fid, category, status, reported_at, geom FROM reports "
                f"WHERE status IN ({', '.join(repr(str(s)) for s in OPEN_STATUSES)})",
            ),
            "tiles": {z: city_tiles(conn, z) for z in (13, 14, 15)},
        }


def tile_ids(conn: Connection, layer: str, z: int, x: int, y: int) -> dict[int, dict[str, Any]]:
    data = render_tile(conn, PUBLISHED[layer], z=z, x=x, y=y)
    decoded = decode(data).get(layer, {"features": []})
    return {f["id"]: f for f in decoded["features"]}


@pytest.mark.parametrize(
    ("layer", "zooms"),
    [
        ("grids", (13, 14, 15)),
        ("communities", (13, 14)),
        ("buildings", (14, 15)),
        ("roads", (14,)),
        ("facilities", (14,)),
        ("open_reports", (14, 15)),
    ],
)
def test_tile_features_are_those_reaching_the_tile(
    shared_demo_engine: Engine, demo: dict[str, Any], layer: str, zooms: tuple[int, ...]
) -> None:
    frame = demo[layer]
    seen: set[int] = set()
    inside: set[int] = set()
    with shared_demo_engine.connect() as conn:
        for z in zooms:
            for _, x, y in demo["tiles"][z]:
                got = set(tile_ids(conn, layer, z, x, y))
                must, may = expected_ids(frame, "fid", z, x, y)
                assert must <= got <= may, (layer, z, x, y, must - got, got - may)
                seen |= got
                inside |= must
    # Every feature within the city's tiles is drawn; a few planted reports lie outside the city
    # (the demo's open queue is a few dozen, so "a few" is counted, not a share).
    assert seen >= inside and len(frame) - len(inside) <= max(2, 0.01 * len(frame))


def test_grid_properties_and_counts_match_the_database(
    shared_demo_engine: Engine, demo: dict[str, Any]
) -> None:
    grids = demo["grids"].set_index("fid")
    with shared_demo_engine.connect() as conn:
        for _, x, y in demo["tiles"][14]:
            for fid, feature in tile_ids(conn, "grids", 14, x, y).items():
                row = grids.loc[fid]
                assert feature["properties"] == {
                    "code": row["code"],
                    "name": row["name"],
                    "community_code": row["community_code"],
                    "buildings": row["buildings"],
                    "residents": row["residents"],
                }


def test_building_and_report_properties_are_public_and_right(
    shared_demo_engine: Engine, demo: dict[str, Any]
) -> None:
    buildings = demo["buildings"].set_index("fid")
    reports = demo["open_reports"].set_index("fid")
    tile_fields = {n for n, p in PUBLISHED["open_reports"].properties.items() if p.tile}
    checked = 0
    with shared_demo_engine.connect() as conn:
        for _, x, y in demo["tiles"][15]:
            for fid, feature in tile_ids(conn, "buildings", 15, x, y).items():
                row = buildings.loc[fid]
                props = feature["properties"]
                grid = None if pd.isna(row["grid_code"]) else row["grid_code"]
                assert props["code"] == row["code"] and props.get("grid_code") == grid
                assert props.get("residents") == row["residents"]
                if not pd.isna(row["grid_share"]):
                    assert props["grid_share"] == pytest.approx(row["grid_share"], abs=5e-4)
                checked += 1
            for fid, feature in tile_ids(conn, "open_reports", 15, x, y).items():
                props = feature["properties"]
                assert set(props) <= tile_fields
                assert not {"reporter_name", "reporter_phone", "photo_url"} & set(props)
                assert props["status"] in OPEN_STATUSES
                assert props["category"] == reports.loc[fid, "category"]
                reported = reports.loc[fid, "reported_at"].floor("s")
                assert pd.Timestamp(props["reported_at"]) == reported
                assert re.fullmatch(
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", props["reported_at"]
                )
    assert checked >= len(buildings)


def test_grid_geometry_is_the_source_clipped_within_a_pixel(
    shared_demo_engine: Engine, demo: dict[str, Any]
) -> None:
    grids = demo["grids"].set_index("fid")
    z = 16
    centre = grids.to_crs(4326).union_all().centroid
    x, y = tile_of(centre.x, centre.y, z)
    minx, miny, maxx, maxy, size = tile_box(z, x, y)
    unit = size / EXTENT
    clip = box(
        minx - BUFFER * unit, miny - BUFFER * unit, maxx + BUFFER * unit, maxy + BUFFER * unit
    )
    tolerance = simplify_tolerance_m(z) + 2 * unit
    with shared_demo_engine.connect() as conn:
        data = render_tile(conn, PUBLISHED["grids"], z=z, x=x, y=y)
    decoded = decode(data)
    assert decoded["grids"]["features"]
    for feature in decoded["grids"]["features"]:
        drawn = to_3857(feature["geometry"], z, x, y)
        expected = grids.geometry.loc[feature["id"]].intersection(clip)
        assert drawn.hausdorff_distance(expected) <= tolerance, feature["properties"]["code"]
    # Label points: PostGIS's ST_PointOnSurface is GEOS's, as shapely's representative_point.
    points = grids.to_crs(4326).representative_point().to_crs(3857)
    reach = (LABEL_BUFFER - 1) * unit
    must = set(
        points[points.within(box(minx - reach, miny - reach, maxx + reach, maxy + reach))].index
    )
    reach = (LABEL_BUFFER + 1) * unit
    may = set(
        points[points.within(box(minx - reach, miny - reach, maxx + reach, maxy + reach))].index
    )
    labels = decoded["grids_labels"]["features"]
    assert must <= {f["id"] for f in labels} <= may
    for feature in labels:
        point = to_3857(feature["geometry"], z, x, y)
        assert point.distance(points.loc[feature["id"]]) <= unit
        assert feature["properties"]["code"] == grids.loc[feature["id"], "code"]
    assert LABEL_BUFFER > BUFFER


def test_label_points_start_at_their_own_zoom(shared_demo_engine: Engine) -> None:
    start = PUBLISHED["grids"].labels_minzoom
    with shared_demo_engine.connect() as conn:
        for z in (start - 1, start):
            x, y = tile_of(104.06, 30.66, z)
            layers = decode(render_tile(conn, PUBLISHED["grids"], z=z, x=x, y=y))
            assert layers["grids"]["features"]
            assert ("grids_labels" in layers) == (z >= start)


def test_empty_and_below_minzoom_tiles_are_empty(shared_demo_engine: Engine) -> None:
    with shared_demo_engine.connect() as conn:
        assert render_tile(conn, PUBLISHED["grids"], z=10, x=0, y=0) == b""
        x, y = tile_of(104.06, 30.66, 13)
        # Buildings start at zoom 14 (a few thousand footprints per tile).
        assert render_tile(conn, PUBLISHED["buildings"], z=13, x=x, y=y) == b""
        assert render_tile(conn, PUBLISHED["grids"], z=13, x=x, y=y) != b""


@pytest.mark.parametrize(
    ("z", "x", "y", "word"),
    [(-1, 0, 0, "z"), (23, 0, 0, "z"), (3, 8, 0, "x"), (3, 0, 8, "y"), (0, 0, -1, "y")],
)
def test_tiles_outside_the_pyramid_are_refused(
    shared_demo_engine: Engine, z: int, x: int, y: int, word: str
) -> None:
    with (
        shared_demo_engine.connect() as conn,
        pytest.raises(InvalidParameter, match=rf"^{word}: "),
    ):
        render_tile(conn, PUBLISHED["grids"], z=z, x=x, y=y)
