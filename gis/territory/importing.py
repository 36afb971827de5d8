"""Import of GeoJSON, GeoPackage and Shapefile layers: validated first, then all-or-nothing.

A file is read with pyogrio, reprojected to EPSG:4326 and checked feature by feature
(geometry, type, codes, parents, attribute types). One problem rejects the whole file with a
message naming the feature; only a clean file is copied into a staging table and upserted by
its key in one transaction, so a failure leaves the stored data as it was.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from sqlalchemy import Connection, text

from gis.core.errors import ImportRejected, InvalidInput
from gis.core.vocabulary import CODE_DIGITS, LEVEL_TABLE, code_column, code_prefix, sql_list
from gis.routing.network import build_network
from gis.territory.assignment import assign_buildings, assign_facilities
from gis.territory.codes import code_problem
from gis.territory.layers import Layer, get_layer
from gis.territory.osm import ONE_WAY, ONEWAY_VALUES, is_osm_file, read_osm_layer

Progress = Callable[[str, int, int], None]
FACILITY_KINDS = (
    "service_station",
    "waste_point",
    "checkpoint",
    "camera",
    "manhole",
    "hydrant",
    "other",
)
_GEOMETRY_TYPES = {
    "polygon": ("Polygon", "MultiPolygon"),
    "point": ("Point",),
    "line": ("LineString", "MultiLineString"),
}
_COPY_CHUNK = 20_000


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    layer: str
    features: int
    inserted: int
    updated: int
    unchanged: int


# How much of each end of a GeoJSON file is searched for its top-level ``crs`` member.
_CRS_SCAN_BYTES = 1 << 20
_GEOJSON_CRS = re.compile(
    rb'"crs"\s*:\s*\{\s*"type"\s*:\s*"name"\s*,\s*"properties"\s*:\s*\{\s*"name"\s*:\s*"([^"]+)"'
)


def check_declared_crs(path: Path) -> None:
    """Refuse a GeoJSON whose ``crs`` member names a CRS that does not exist.

    GDAL reads such a file as WGS84 without a word (RFC 7946 dropped ``crs``), which would
    put every feature in the wrong place; the member sits at either end of the file.
    """
    if path.suffix.lower() not in (".geojson", ".json"):
        return
    with path.open("rb") as handle:
        head = handle.read(_CRS_SCAN_BYTES)
        handle.seek(max(0, path.stat().st_size - _CRS_SCAN_BYTES))
        tail = handle.read(_CRS_SCAN_BYTES)
    for part in (head, tail):
        found = _GEOJSON_CRS.search(part)
        if found:
            name = found.group(1).decode("utf-8", errors="replace")
            try:
                CRS.from_user_input(name)
            except CRSError as exc:
                raise ImportRejected(
                    f"{path}: unknown CRS {name!r} declared by the file: {exc}; "
                    "save it with a CRS that exists (e.g. EPSG:4326)"
                ) from exc
            return


def read_layer_file(path: Path) -> gpd.GeoDataFrame:
    """Read a vector file; ``ImportRejected`` when it cannot be read as one."""
    if not path.exists():
        raise ImportRejected(f"{path}: no such file")
    check_declared_crs(path)
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several DataSourceError/DataLayerError kinds
        raise ImportRejected(f"{path}: not a readable GeoJSON/GeoPackage/Shapefile: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise ImportRejected(f"{path}: the file holds no geometry column")
    frame.columns = [c if c == frame.geometry.name else str(c).lower() for c in frame.columns]
    return frame


def to_wgs84(frame: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326, refusing files with no or an unknown CRS."""
    if frame.crs is None:
        raise ImportRejected(
            f"{source}: unknown CRS: the file declares no coordinate reference system; "
            "save it with one (e.g. EPSG:4326 or the local projected CRS)"
        )
    try:
        crs = CRS.from_user_input(frame.crs)
    except CRSError as exc:
        raise ImportRejected(f"{source}: unknown CRS {frame.crs!r}: {exc}") from exc
    if crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return frame.set_crs(4326, allow_override=True)
    with np.errstate(all="ignore"):
        return frame.to_crs(4326)


def _feature_label(frame: gpd.GeoDataFrame, idx: int, key: str) -> str:
    label = f"feature {idx}"
    if key in frame.columns:
        value = frame[key].iloc[idx]
        if isinstance(value, str) and value:
            label += f" (code {value})"
    return label


def geometry_problems(frame: gpd.GeoDataFrame, layer: Layer) -> dict[int, list[str]]:
    """Per feature index: missing, wrong-type, out-of-range or invalid geometry."""
    problems: dict[int, list[str]] = {}
    geoms = frame.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for idx in map(int, np.flatnonzero(missing)):
        problems.setdefault(int(idx), []).append("missing or empty geometry")
    present = ~missing
    types = np.asarray(shapely.get_type_id(geoms))
    allowed_ids = {
        "polygon": (3, 6),
        "point": (0,),
        "line": (1, 5),
    }[layer.geometry]
    wrong = present & ~np.isin(types, allowed_ids)
    for idx in map(int, np.flatnonzero(wrong)):
        name = geoms[idx].geom_type
        problems.setdefault(int(idx), []).append(
            f"wrong geometry type {name}; the {layer.name} layer takes "
            f"{' or '.join(_GEOMETRY_TYPES[layer.geometry])}"
        )
    checkable = present & ~wrong
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        out_of_range = checkable & (
            ~np.isfinite(bounds).all(axis=1)
            | (bounds[:, 0] < -180)
            | (bounds[:, 2] > 180)
            | (bounds[:, 1] < -90)
            | (bounds[:, 3] > 90)
        )
    for idx in map(int, np.flatnonzero(out_of_range)):
        problems.setdefault(int(idx), []).append(
            "coordinates out of range for longitude/latitude (is the file's CRS right?)"
        )
    to_check = checkable & ~out_of_range
    valid = np.ones(len(frame), dtype=bool)
    valid[to_check] = shapely.is_valid(geoms[to_check])
    for idx in map(int, np.flatnonzero(~valid)):
        reason = shapely.is_valid_reason(geoms[idx])
        problems.setdefault(int(idx), []).append(
            f"invalid geometry: {reason} (repair it, e.g. with make_valid, and import again)"
        )
    return problems


def _text_or_none(value: object) -> str | None:
    """A cell as stripped text; missing and blank cells are ``None``."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    return str(value).strip() or None


def _attribute_problems(
    frame: gpd.GeoDataFrame, layer: Layer, source: str
) -> tuple[dict[int, list[str]], pd.DataFrame]:
    """Check key and attribute columns; return problems and the cleaned attribute table."""
    problems: dict[int, list[str]] = {}
    clean = pd.DataFrame(index=frame.index)

    if layer.key == "code":
        if "code" not in frame.columns:
            raise ImportRejected(
                f"{source}: missing column 'code' (the {layer.name} layer needs a code per feature)"
            )
        # Shapefiles and GeoPackages may store numeric-looking codes as numbers.
        codes = pd.Series(
            [
                str(int(v)) if isinstance(v, (int, np.integer)) else _text_or_none(v)
                for v in frame["code"]
            ],
            index=frame.index,
            dtype=object,
        )
        for idx, value in enumerate(codes):
            problem = code_problem(layer.name, value)
            if problem:
                problems.setdefault(idx, []).append(problem)
        valid_codes = codes.where(codes.map(lambda v: isinstance(v, str)))
        duplicated = valid_codes.notna() & valid_codes.duplicated(keep=False)
        for idx in map(int, np.flatnonzero(duplicated.to_numpy())):
            problems.setdefault(int(idx), []).append(
                f"duplicate code {valid_codes.iloc[idx]!r} in the file"
            )
        clean["code"] = codes

    for column in layer.required:
        if column not in frame.columns:
            raise ImportRejected(f"{source}: missing column {column!r} for the {layer.name} layer")

    for column, sql_type in layer.columns.items():
        if column not in frame.columns:
            clean[column] = None
            continue
        values = frame[column]
        if sql_type == "integer":
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & (
                numbers.isna() | (numbers < 0) | (numbers != np.floor(numbers.fillna(0)))
            )
            for idx in map(int, np.flatnonzero(bad.to_numpy())):
                problems.setdefault(int(idx), []).append(
                    f"{column} must be a whole number >= 0, got {values.iloc[idx]!r}"
                )
            clean[column] = numbers.where(~bad).astype("Int64")
        else:
            # object dtype: pandas' string dtype would turn None back into a (truthy) NaN.
            text_values = pd.Series(
                [_text_or_none(v) for v in values], index=values.index, dtype=object
            )
            if column in layer.required:
                for idx in map(int, np.flatnonzero(text_values.isna().to_numpy())):
                    problems.setdefault(int(idx), []).append(f"missing {column}")
            clean[column] = text_values

    if layer.name == "roads":
        _check_road_columns(clean, problems)
    if layer.name == "facilities" and "kind" in clean.columns:
        for idx, kind in enumerate(clean["kind"]):
            if kind and kind not in FACILITY_KINDS:
                problems.setdefault(idx, []).append(
                    f"unknown facility kind {kind!r}; expected one of: {', '.join(FACILITY_KINDS)}"
                )
    return problems, clean


def _parent_problems(conn: Connection, layer: Layer, codes: pd.Series) -> dict[int, list[str]]:
    parent = layer.parent
    if parent is None:
        return {}
    parent_table = LEVEL_TABLE[parent]
    wanted = sorted({code_prefix(c, parent) for c in codes if isinstance(c, str)})
    found = set(
        conn.execute(
            text(f"SELECT code FROM {parent_table} WHERE code = ANY(:codes)"), {"codes": wanted}
        ).scalars()
    )
    problems: dict[int, list[str]] = {}
    for idx, code in enumerate(codes):
        if isinstance(code, str) and code_prefix(code, parent) not in found:
            problems.setdefault(idx, []).append(
                f"parent not found: no {parent} with code {code_prefix(code, parent)!r} "
                f"(import {parent_table} first)"
            )
    return problems


def rejection(
    source: str,
    frame: gpd.GeoDataFrame,
    key: str,
    problems: dict[int, list[str]],
    *,
    label: Callable[[int], str] | None = None,
) -> ImportRejected:
    """The refusal of a file, naming each feature with problems (by ``label`` or index and key)."""
    lines = [
        f"{label(idx) if label else _feature_label(frame, idx, key)}: {'; '.join(reasons)}"
        for idx, reasons in sorted(problems.items())
    ]
    return ImportRejected.listing(source, lines)


def validate_frame(
    conn: Connection, frame: gpd.GeoDataFrame, *, layer: str, source: str
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Reproject and check ``frame`` for ``layer``; raise ``ImportRejected`` on any problem."""
    spec = get_layer(layer)
    if len(frame) == 0:
        raise ImportRejected(f"{source}: the file holds no features")
    frame = to_wgs84(frame.reset_index(drop=True), source)
    problems = geometry_problems(frame, spec)
    attribute_problems, clean = _attribute_problems(frame, spec, source)
    for idx, reasons in attribute_problems.items():
        problems.setdefault(idx, []).extend(reasons)
    if spec.key == "code":
        for idx, reasons in _parent_problems(conn, spec, clean["code"]).items():
            problems.setdefault(idx, []).extend(reasons)
    if problems:
        raise rejection(source, frame, "code", problems)
    return frame, clean


# bridge/tunnel values that say "no" (anything else given names a kind of bridge or tunnel).
_NOT_GRADE = ("no", "false", "0")


def _check_road_columns(clean: pd.DataFrame, problems: dict[int, list[str]]) -> None:
    """oneway from the known values; layer a whole number from -5 to 5."""
    for idx, value in enumerate(clean["oneway"]):
        if value is not None and value.lower() not in ONEWAY_VALUES:
            problems.setdefault(idx, []).append(
                f"oneway {value!r} is not one of: {', '.join(ONEWAY_VALUES)}"
            )
    for idx, value in enumerate(clean["layer"]):
        if value is None:
            continue
        try:
            level = float(value)
        except ValueError:
            level = math.nan
        if not (level == int(level) if math.isfinite(level) else False) or abs(level) > 5:
            problems.setdefault(idx, []).append(
                f"layer {value!r} is not a whole number from -5 to 5 (the road's grade)"
            )


def _stage_columns(spec: Layer) -> list[str]:
    keys = ["code"] if spec.key == "code" else []
    return [*keys, *spec.columns]


def copy_frame(
    conn: Connection,
    table: str,
    frame: pd.DataFrame,
    *,
    progress: Progress | None = None,
    step: str = "copy",
) -> None:
    """COPY ``frame``'s columns (names = table columns) into ``table`` in chunks."""
    raw = conn.connection.driver_connection
    assert raw is not None
    total = len(frame)
    column_list = ", ".join(frame.columns)
    with raw.cursor() as cursor:
        for start in range(0, total, _COPY_CHUNK):
            chunk = frame.iloc[start : start + _COPY_CHUNK]
            buffer = io.StringIO()
            chunk.to_csv(buffer, header=False, index=False)
            with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
            if progress:
                progress(step, min(start + _COPY_CHUNK, total), total)


def _copy_to_stage(
    conn: Connection,
    frame: gpd.GeoDataFrame,
    clean: pd.DataFrame,
    spec: Layer,
    progress: Progress | None,
) -> None:
    columns = _stage_columns(spec)
    column_defs = ", ".join(f"{c} {'text' if c == 'code' else spec.columns[c]}" for c in columns)
    # Several layers may be imported in one transaction (the demo city): one stage at a time.
    conn.execute(text("DROP TABLE IF EXISTS import_stage"))
    conn.execute(
        text(
            f"CREATE TEMP TABLE import_stage (idx integer, {column_defs}"
            f"{', ' if column_defs else ''}wkb text) ON COMMIT DROP"
        )
    )
    table = clean[columns].copy() if columns else pd.DataFrame(index=clean.index)
    table.insert(0, "idx", np.arange(len(frame)))
    table["wkb"] = shapely.to_wkb(frame.geometry.values, hex=True, include_srid=False)
    copy_frame(conn, "import_stage", table, progress=progress)


def _upsert_sql(spec: Layer) -> str:
    geom = "ST_Force2D(ST_GeomFromWKB(decode(s.wkb, 'hex'), 4326))"
    if spec.geometry == "polygon":
        geom_expr = f"ST_Multi({geom})"
    elif spec.geometry == "line":
        geom_expr = f"(ST_Dump({geom})).geom"
    else:
        geom_expr = geom
    if spec.name == "roads":
        # oneway=-1 (OSM: traffic against the drawn direction) is stored reversed, as oneway.
        # The grade: the layer given, else a bridge above and a tunnel below the street.
        return f"""
        WITH parts AS (
            SELECT s.name, lower(coalesce(s.oneway, 'no')) IN ({sql_list(ONE_WAY)}) AS oneway,
                   CASE WHEN s.oneway = '-1' THEN ST_Reverse(g.geom) ELSE g.geom END AS geom,
                   coalesce(
                       CAST(CAST(s.layer AS float8) AS smallint),
                       CASE WHEN lower(coalesce(s.bridge, 'no')) NOT IN ({sql_list(_NOT_GRADE)})
                            THEN 1
                            WHEN lower(coalesce(s.tunnel, 'no')) NOT IN ({sql_list(_NOT_GRADE)})
                            THEN -1
                            ELSE 0 END) AS level
            FROM import_stage s CROSS JOIN LATERAL (SELECT {geom_expr} AS geom) g
        )
        INSERT INTO roads (name, oneway, node_crossings, level, geom_hash, length_m, geom)
        SELECT name, oneway, :node_crossings, level, md5(ST_AsBinary(geom)),
               ST_Length(geom::geography), geom
        FROM parts
        ON CONFLICT (geom_hash) DO UPDATE SET name = EXCLUDED.name, oneway = EXCLUDED.oneway,
            node_crossings = EXCLUDED.node_crossings, level = EXCLUDED.level
            WHERE (roads.name, roads.oneway, roads.node_crossings, roads.level)
                IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.oneway, EXCLUDED.node_crossings,
                                  EXCLUDED.level)
        RETURNING (xmax = 0) AS inserted
        """
    columns = list(spec.columns)
    insert_columns = ["code", *columns]
    select_exprs = ["s.code", *[f"s.{c}" for c in columns]]
    if spec.parent is not None:
        insert_columns.append(code_column(spec.parent))
        select_exprs.append(f"left(s.code, {CODE_DIGITS[spec.parent]})")
    insert_columns.append("geom")
    select_exprs.append(geom_expr)
    updatable = [c for c in insert_columns if c != "code"]
    set_clause = ", ".join(f"{c} = EXCLUDED.{c}" for c in updatable)
    changed = " OR ".join(
        f"{spec.table}.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in updatable if c != "geom"
    )
    changed = (changed + " OR " if changed else "") + (
        f"NOT ST_Equals({spec.table}.geom, EXCLUDED.geom)"
    )
    return f"""
        INSERT INTO {spec.table} ({", ".join(insert_columns)})
        SELECT {", ".join(select_exprs)} FROM import_stage s ORDER BY s.idx
        ON CONFLICT (code) DO UPDATE SET {set_clause} WHERE {changed}
        RETURNING (xmax = 0) AS inserted
    """


def write_frame(
    conn: Connection,
    frame: gpd.GeoDataFrame,
    clean: pd.DataFrame,
    *,
    layer: str,
    progress: Progress | None = None,
    node_crossings: bool = False,
) -> ImportResult:
    """Upsert a validated frame; the caller's transaction makes it all-or-nothing.
    ``node_crossings`` (roads): their crossings are junctions (drawn data)."""
    spec = get_layer(layer)
    _check_node_crossings(layer, node_crossings)
    _copy_to_stage(conn, frame, clean, spec, progress)
    if progress:
        progress("upsert", 0, 1)
    params = {"node_crossings": node_crossings} if layer == "roads" else {}
    flags = conn.execute(text(_upsert_sql(spec)), params).scalars().all()
    conn.execute(text("DROP TABLE import_stage"))
    inserted = sum(1 for f in flags if f)
    updated = len(flags) - inserted
    if progress:
        progress("upsert", 1, 1)
    if layer in ("grids", "buildings"):
        if progress:
            progress("assign buildings", 0, 1)
        assign_buildings(conn)
        if progress:
            progress("assign buildings", 1, 1)
    if layer in ("grids", "facilities"):
        assign_facilities(conn)
    if layer == "roads":
        if progress:
            progress("build street network", 0, 1)
        build_network(conn)
        if progress:
            progress("build street network", 1, 1)
    return ImportResult(
        layer=layer,
        features=len(frame),
        inserted=inserted,
        updated=updated,
        unchanged=len(frame) - inserted - updated if layer != "roads" else 0,
    )


def import_frame(
    conn: Connection,
    frame: gpd.GeoDataFrame,
    *,
    layer: str,
    source: str = "data",
    progress: Progress | None = None,
    node_crossings: bool = False,
) -> ImportResult:
    """Validate and upsert a GeoDataFrame as ``layer`` within the caller's transaction."""
    _check_node_crossings(layer, node_crossings)
    checked, clean = validate_frame(conn, frame, layer=layer, source=source)
    return write_frame(
        conn, checked, clean, layer=layer, progress=progress, node_crossings=node_crossings
    )


def _check_node_crossings(layer: str, node_crossings: bool) -> None:
    if node_crossings and layer != "roads":
        raise InvalidInput(
            f"--node-crossings applies to the roads layer (where crossing streets meet), "
            f"not to {layer}"
        )


def import_file(
    conn: Connection,
    path: Path,
    *,
    layer: str,
    progress: Progress | None = None,
    node_crossings: bool = False,
) -> ImportResult:
    """Import one file as ``layer`` (GeoJSON, GeoPackage or Shapefile, any CRS; roads and
    buildings also from an OpenStreetMap ``.osm.pbf`` extract). ``node_crossings`` (roads):
    make every crossing of the file's roads a junction, for drawn data without junction
    vertices (OSM data marks each junction with a shared node and needs no flag)."""
    get_layer(layer)
    _check_node_crossings(layer, node_crossings)
    if progress:
        progress("read", 0, 1)
    frame = read_osm_layer(path, layer) if is_osm_file(path) else read_layer_file(path)
    if progress:
        progress("read", 1, 1)
    return import_frame(
        conn, frame, layer=layer, source=str(path), progress=progress, node_crossings=node_crossings
    )


def describe(result: ImportResult) -> dict[str, Any]:
    """Stable JSON form of an import result."""
    return {
        "layer": result.layer,
        "features": result.features,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }
