"""Bulk import of report history (CSV with lon/lat, GeoJSON, GeoPackage), located set-based.

Like the layer importer, a file is checked row by row first (category, times, status, point)
and one problem rejects it whole. A clean file is copied into a staging table and located
in PostGIS with a handful of statements over all rows, never one query per report:

- the staged points are sorted by geohash and indexed, so consecutive index probes touch the
  same pages;
- grids and districts drive the joins: each of the (few, large) polygons probes the points'
  GiST index once, and PostGIS's prepared-geometry cache makes the repeated polygon cheap
  (driving from a million points instead is what makes a naive ``UPDATE … FROM`` ~20x slower);
- community and sub-district follow from the grid (grids tile their community); the district
  is the one the point physically lies in, which differs for enclaves (插花地);
- buildings are as many as the points, so neither side may drive: both are bucketed on a
  0.0005° lon/lat lattice (a join key only; every pair is confirmed by ``ST_Intersects``),
  hash-joined, and filtered by bounding box numerically before the exact test.

Rows are upserted by ``external_id`` (the file's ``external_id`` column, or an md5 of the row's
content and its occurrence number), so loading the same history twice adds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from gis.core.errors import ImportRejected
from gis.core.vocabulary import CODE_DIGITS, STATUSES, Level, ReportStatus
from gis.reports.categories import Category
from gis.territory.importing import (
    ImportResult,
    Progress,
    copy_frame,
    geometry_problems,
    read_layer_file,
    rejection,
    to_wgs84,
)
from gis.territory.layers import Layer

REPORTS_LAYER = "reports"
_SPEC = Layer(name=REPORTS_LAYER, geometry="point", properties={}, key="external_id")
_BUCKET_DEG = 0.0005
_STAGE_COLUMNS = (
    "idx",
    "external_id",
    "category",
    "status",
    "reported_at",
    "arrived_at",
    "resolved_at",
    "closed_at",
    "description",
    "lon",
    "lat",
)


# ----------------------------------------------------------------------------- reading
def read_report_file(path: Path) -> gpd.GeoDataFrame:
    """Read a CSV (``lon``, ``lat`` columns, EPSG:4326) or a vector file of report points."""
    if path.suffix.lower() != ".csv":
        return to_wgs84(read_layer_file(path), str(path))
    if not path.exists():
        raise ImportRejected(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ImportRejected(f"{path}: not a readable CSV file: {exc}") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for column in ("lon", "lat"):
        if column not in frame.columns:
            raise ImportRejected(
                f"{path}: missing column {column!r}; a CSV of reports needs lon and lat "
                "(EPSG:4326 degrees)"
            )
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    geoms = np.full(len(frame), None, dtype=object)
    geoms[ok] = shapely.points(lon[ok], lat[ok])
    return gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=geoms, crs=4326)


# ----------------------------------------------------------------------------- checking
def _parse_times(values: pd.Series) -> pd.Series:
    """ISO 8601 timestamps; naive ones are taken as UTC; unparseable ones become NaT."""
    text_values = values.astype("string").str.strip().replace("", pd.NA)
    return pd.to_datetime(text_values, utc=True, errors="coerce", format="ISO8601")


def _content_ids(clean: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> list[str]:
    """An md5 of each row's content plus its occurrence number among identical rows."""
    key = (
        clean["category"].astype(str)
        + "|"
        + clean["reported_at"].astype(str)
        + "|"
        + pd.Series(np.round(lon, 7), index=clean.index).map("{:.7f}".format)
        + "|"
        + pd.Series(np.round(lat, 7), index=clean.index).map("{:.7f}".format)
        + "|"
        + clean["description"]
    )
    # Two identical rows are two reports (two residents calling about one thing).
    key = key + "|" + key.groupby(key).cumcount().astype(str)
    return ["md5:" + hashlib.md5(k.encode("utf-8")).hexdigest() for k in key]


def _row_label(source: str) -> Callable[[int], str]:
    """How a problem names its row: the CSV line number, or the feature index."""
    if source.lower().endswith(".csv"):
        return lambda idx: f"row {idx + 1} (line {idx + 2})"
    return lambda idx: f"feature {idx}"


def validate_reports(
    frame: gpd.GeoDataFrame,
    *,
    source: str,
    categories: dict[str, Category],
    shift: timedelta = timedelta(0),
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Check every row; return the frame and a clean table for staging, or reject the file.

    ``shift`` moves every time of the staged rows (the demo's history is moved to the present
    when it is loaded); content ids are made from the times as written.
    """
    if len(frame) == 0:
        raise ImportRejected(f"{source}: the file holds no reports")
    frame = frame.reset_index(drop=True)
    frame.columns = [c if c == frame.geometry.name else str(c).lower() for c in frame.columns]
    for column in ("category", "reported_at"):
        if column not in frame.columns:
            raise ImportRejected(f"{source}: missing column {column!r} for reports")
    problems = geometry_problems(frame, _SPEC)

    def note(mask: np.ndarray, reason: pd.Series | str) -> None:
        for idx in np.flatnonzero(mask):
            text_reason = reason if isinstance(reason, str) else str(reason.iloc[idx])
            problems.setdefault(int(idx), []).append(text_reason)

    def texts(column: str) -> pd.Series:
        if column not in frame.columns:
            return pd.Series("", index=frame.index, dtype=object)
        values = frame[column].astype("string").str.strip().fillna("")
        return values.astype(object)

    clean = pd.DataFrame(index=frame.index)
    category = texts("category")
    known = tuple(categories)
    bad = ~category.isin(known).to_numpy()
    note(
        bad,
        category.map(
            lambda c: (
                f"unknown category {c!r}; expected one of: {', '.join(known)}"
                if c
                else "missing category"
            )
        ),
    )
    clean["category"] = category

    reported_raw = texts("reported_at")
    reported = _parse_times(frame["reported_at"])
    note(
        reported.isna().to_numpy(),
        reported_raw.map(
            lambda v: f"reported_at {v!r} is not an ISO 8601 time" if v else "missing reported_at"
        ),
    )
    later: dict[str, pd.Series] = {}
    for column in ("arrived_at", "resolved_at", "closed_at"):  # optional, in lifecycle order
        raw = texts(column)
        times = _parse_times(raw)
        note(
            (times.isna() & raw.ne("")).to_numpy(),
            raw.map(lambda v, c=column: f"{c} {v!r} is not an ISO 8601 time"),
        )
        note((times < reported).fillna(False).to_numpy(dtype=bool), f"{column} before reported_at")
        later[column] = times
    arrived, resolved, closed = later["arrived_at"], later["resolved_at"], later["closed_at"]
    note((resolved < arrived).fillna(False).to_numpy(dtype=bool), "resolved_at before arrived_at")

    status = texts("status")
    # History may arrive in any status; without one, a closing time means it was closed.
    status = status.where(
        status.ne(""), np.where(closed.notna(), ReportStatus.CLOSED, ReportStatus.REPORTED)
    )
    note(
        ~status.isin(STATUSES).to_numpy(),
        status.map(lambda s: f"unknown status {s!r}; expected one of: {', '.join(STATUSES)}"),
    )
    if problems:
        raise rejection(source, frame, "external_id", problems, label=_row_label(source))

    clean["status"] = status
    # pandas writes these as "2025-01-01 00:35:00+00:00", which PostgreSQL reads as timestamptz.
    clean["reported_at"] = reported + shift
    clean["arrived_at"] = arrived + shift
    clean["resolved_at"] = resolved + shift
    clean["closed_at"] = closed + shift
    clean["description"] = texts("description")
    lon = shapely.get_x(frame.geometry.values)
    lat = shapely.get_y(frame.geometry.values)
    clean["lon"], clean["lat"] = lon, lat
    external = texts("external_id")
    missing_id = external.eq("").to_numpy()
    if missing_id.any():  # hashing a million rows costs seconds: only when ids are missing
        as_written = clean.assign(reported_at=reported)
        content = np.asarray(_content_ids(as_written, lon, lat), dtype=object)
        external = pd.Series(np.where(missing_id, content, external), index=frame.index)
    clean["external_id"] = external
    duplicated = clean["external_id"].duplicated(keep=False).to_numpy()
    if duplicated.any():
        note(duplicated, clean["external_id"].map(lambda v: f"duplicate external_id {v!r}"))
        raise rejection(source, frame, "external_id", problems, label=_row_label(source))
    clean.insert(0, "idx", np.arange(len(frame)))
    return frame, clean[list(_STAGE_COLUMNS)]


# ----------------------------------------------------------------------------- locating
_STAGE = """
CREATE TEMP TABLE report_stage (
    idx integer, external_id text, category text, status text, reported_at timestamptz,
    arrived_at timestamptz, resolved_at timestamptz, closed_at timestamptz, description text,
    lon double precision, lat double precision
) ON COMMIT DROP
"""
_POINTS = """
CREATE TEMP TABLE report_points ON COMMIT DROP AS
SELECT s.*, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) AS geom
FROM report_stage s
ORDER BY ST_GeoHash(ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), 10)
"""
# Few large polygons drive; each probes the points' GiST index (prepared geometry cached).
_IN_POLYGON = """
CREATE TEMP TABLE report_{name} ON COMMIT DROP AS
SELECT p.idx, min(t.code) AS code
FROM {table} t JOIN report_points p ON p.geom && t.geom AND ST_Intersects(t.geom, p.geom)
GROUP BY p.idx
"""
# Points outside every grid (a gap between grids) still get the community they lie in.
_COMMUNITY_OUTSIDE_GRIDS = """
CREATE TEMP TABLE report_community ON COMMIT DROP AS
SELECT p.idx, c.code
FROM report_points p
CROSS JOIN LATERAL (
    SELECT code FROM communities c
    WHERE c.geom && p.geom AND ST_Intersects(c.geom, p.geom) ORDER BY code LIMIT 1
) c
WHERE NOT EXISTS (SELECT 1 FROM report_grid g WHERE g.idx = p.idx)
"""
_IN_BUILDING = f"""
CREATE TEMP TABLE report_building ON COMMIT DROP AS
WITH building_cells AS MATERIALIZED (
    SELECT b.id, bx.x0, bx.x1, bx.y0, bx.y1, ix::bigint * 4294967296 + iy AS cell
    FROM buildings b
    CROSS JOIN LATERAL (
        SELECT ST_XMin(b.geom) AS x0, ST_XMax(b.geom) AS x1,
               ST_YMin(b.geom) AS y0, ST_YMax(b.geom) AS y1
    ) bx
    CROSS JOIN LATERAL generate_series(
        floor(bx.x0 / {_BUCKET_DEG})::int, floor(bx.x1 / {_BUCKET_DEG})::int) ix
    CROSS JOIN LATERAL generate_series(
        floor(bx.y0 / {_BUCKET_DEG})::int, floor(bx.y1 / {_BUCKET_DEG})::int) iy
),
point_cells AS MATERIALIZED (
    SELECT idx, geom, lon, lat,
           floor(lon / {_BUCKET_DEG})::bigint * 4294967296 + floor(lat / {_BUCKET_DEG})::bigint
               AS cell
    FROM report_points
),
candidates AS MATERIALIZED (
    SELECT p.idx, p.geom, bc.id
    FROM point_cells p JOIN building_cells bc ON bc.cell = p.cell
    WHERE p.lon BETWEEN bc.x0 AND bc.x1 AND p.lat BETWEEN bc.y0 AND bc.y1
)
SELECT c.idx, min(c.id) AS building_id
FROM candidates c JOIN buildings b ON b.id = c.id
WHERE ST_Intersects(b.geom, c.geom)
GROUP BY c.idx
"""
_UPSERT = f"""
WITH written AS (
    INSERT INTO reports (
        external_id, category, description, status, reported_at, arrived_at, resolved_at,
        closed_at, due_arrival_at, due_resolution_at, located,
        district_code, subdistrict_code, community_code, grid_code, building_id, geom
    )
    SELECT p.external_id, p.category, coalesce(p.description, ''), p.status, p.reported_at,
           p.arrived_at, p.resolved_at, p.closed_at,
           p.reported_at + make_interval(mins => d.arrival_minutes),
           p.reported_at + make_interval(mins => d.resolution_minutes),
           (rd.code IS NOT NULL OR g.code IS NOT NULL OR rc.code IS NOT NULL),
           rd.code, left(coalesce(g.community_code, rc.code), {CODE_DIGITS[Level.SUBDISTRICT]}),
           coalesce(g.community_code, rc.code), g.code, rb.building_id, p.geom
    FROM report_points p
    JOIN unnest(CAST(:codes AS text[]), CAST(:arrival AS int[]), CAST(:resolution AS int[]))
        AS d(code, arrival_minutes, resolution_minutes) ON d.code = p.category
    LEFT JOIN report_grid rg ON rg.idx = p.idx
    LEFT JOIN grids g ON g.code = rg.code
    LEFT JOIN report_community rc ON rc.idx = p.idx
    LEFT JOIN report_district rd ON rd.idx = p.idx
    LEFT JOIN report_building rb ON rb.idx = p.idx
    ON CONFLICT (external_id) DO UPDATE SET
        category = EXCLUDED.category, description = EXCLUDED.description,
        status = EXCLUDED.status, reported_at = EXCLUDED.reported_at,
        arrived_at = EXCLUDED.arrived_at, resolved_at = EXCLUDED.resolved_at,
        closed_at = EXCLUDED.closed_at, due_arrival_at = EXCLUDED.due_arrival_at,
        due_resolution_at = EXCLUDED.due_resolution_at
    WHERE (reports.category, reports.description, reports.status, reports.reported_at,
           reports.arrived_at, reports.resolved_at, reports.closed_at, reports.due_arrival_at,
           reports.due_resolution_at)
          IS DISTINCT FROM
          (EXCLUDED.category, EXCLUDED.description, EXCLUDED.status, EXCLUDED.reported_at,
           EXCLUDED.arrived_at, EXCLUDED.resolved_at, EXCLUDED.closed_at,
           EXCLUDED.due_arrival_at, EXCLUDED.due_resolution_at)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
"""


def locate_staged_reports(conn: Connection, *, progress: Progress | None = None) -> None:
    """Locate every staged report point (grid, community, district, building) in bulk."""
    steps = [
        ("sort points", _POINTS),
        ("index points", "CREATE INDEX ON report_points USING gist (geom); ANALYZE report_points"),
        ("locate grids", _IN_POLYGON.format(name="grid", table="grids")),
        ("locate districts", _IN_POLYGON.format(name="district", table="districts")),
        ("locate communities", _COMMUNITY_OUTSIDE_GRIDS),
        ("locate buildings", _IN_BUILDING),
    ]
    for k, (step, sql) in enumerate(steps):
        if progress:
            progress(f"locate: {step}", k, len(steps))
        for statement in sql.split("; "):
            conn.execute(text(statement))
    if progress:
        progress("locate: done", len(steps), len(steps))


def import_reports(
    conn: Connection,
    frame: gpd.GeoDataFrame,
    *,
    categories: dict[str, Category],
    source: str = "data",
    shift: timedelta = timedelta(0),
    progress: Progress | None = None,
) -> ImportResult:
    """Validate, stage, locate and upsert report history in the caller's transaction.

    Every report gets its deadlines from its category, like one taken in through the API;
    ``shift`` moves all of its times (see ``validate_reports``).
    """
    frame = to_wgs84(frame, source) if len(frame) else frame
    checked, clean = validate_reports(frame, source=source, categories=categories, shift=shift)
    for table in ("report_stage", "report_points", "report_grid", "report_district"):
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    for table in ("report_community", "report_building"):
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    conn.execute(text(_STAGE))
    copy_frame(conn, "report_stage", clean, progress=progress)
    locate_staged_reports(conn, progress=progress)
    if progress:
        progress("upsert", 0, 1)
    # Deadlines as for a report taken in today: the category's minutes after the report.
    deadlines = {
        "codes": list(categories),
        "arrival": [c.arrival_minutes for c in categories.values()],
        "resolution": [c.resolution_minutes for c in categories.values()],
    }
    inserted, updated = conn.execute(text(_UPSERT), deadlines).one()
    if progress:
        progress("upsert", 1, 1)
    return ImportResult(
        layer=REPORTS_LAYER,
        features=len(checked),
        inserted=int(inserted),
        updated=int(updated),
        unchanged=len(checked) - int(inserted) - int(updated),
    )


def import_report_file(
    conn: Connection,
    path: Path,
    *,
    categories: dict[str, Category],
    shift: timedelta = timedelta(0),
    progress: Progress | None = None,
) -> ImportResult:
    """Import a report-history file (CSV with lon/lat, GeoJSON, GeoPackage), all-or-nothing."""
    if progress:
        progress("read", 0, 1)
    frame = read_report_file(path)
    if progress:
        progress("read", 1, 1)
    return import_reports(
        conn, frame, categories=categories, source=str(path), shift=shift, progress=progress
    )
