"""Report intake: located by PostGIS, idempotent retries, duplicate flags.

A report is located in one set-based statement: the district, sub-district, community and grid
whose polygon contains the point (GiST ``ST_Intersects``), and the building containing it or else
the nearest within 30 m (``ST_DWithin`` on geography, GiST expression index). A point outside
every grid is stored with ``located = false`` for a dispatcher to handle; it is never dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import Conflict, InvalidInput
from gis.core.vocabulary import CODE_DIGITS, OPEN_STATUSES, Level, ReportStatus, sql_list
from gis.reports.categories import Category
from gis.reports.listing import get_report

BUILDING_SNAP_M = 30.0
DUPLICATE_DISTANCE_M = 50.0
DUPLICATE_WINDOW_H = 24
# A report this close to another district's community is a border report.
BORDER_DISTANCE_M = 100.0
# How far an enclave report looks for a community of the district it physically lies in.
ENCLAVE_SEARCH_M = 2000.0
MAX_DESCRIPTION_CHARS = 4000
MAX_NAME_CHARS = 100
MAX_PHONE_CHARS = 32
MAX_URL_CHARS = 2000
MAX_IDEMPOTENCY_KEY_CHARS = 200
# A description holds something besides white space (a JSON Schema pattern, searched).
NOT_BLANK = r"\S"
# A point farther than this from every district is not a report of this city (swapped lat and
# lon, a test, spam): refused at intake. Between the districts' edge and this distance a report
# is kept unlocated for a dispatcher (a resident just outside the boundary).
MAX_REPORT_DISTANCE_M = 20_000.0

_OPEN_SQL = sql_list(OPEN_STATUSES)
# A community's own district: its code's district prefix.
_DISTRICT_DIGITS = CODE_DIGITS[Level.DISTRICT]


@dataclass(frozen=True)
class ReportInput:
    """What a resident sends: a point (EPSG:4326 degrees), a category and a description."""

    lat: float
    lon: float
    category: str
    description: str
    reporter_name: str | None = None
    reporter_phone: str | None = None
    photo_url: str | None = None


@dataclass(frozen=True)
class Submission:
    """The stored report and whether this call replayed an earlier one with the same key."""

    report: dict[str, Any]
    replayed: bool


def _validate_input(report: ReportInput, categories: dict[str, Category]) -> Category:
    """Raise ``InvalidInput`` naming the field when ``report`` cannot be stored."""
    if not isinstance(report.lat, int | float) or not -90 <= report.lat <= 90:
        raise InvalidInput(f"lat: must be a number in [-90, 90], got {report.lat!r}")
    if not isinstance(report.lon, int | float) or not -180 <= report.lon <= 180:
        raise InvalidInput(f"lon: must be a number in [-180, 180], got {report.lon!r}")
    if report.category not in categories:
        raise InvalidInput(
            f"category: unknown category {report.category!r}; "
            f"expected one of: {', '.join(categories)}"
        )
    if not report.description.strip():
        raise InvalidInput("description: must not be empty")
    limits = {
        "description": (report.description, MAX_DESCRIPTION_CHARS),
        "reporter_name": (report.reporter_name, MAX_NAME_CHARS),
        "reporter_phone": (report.reporter_phone, MAX_PHONE_CHARS),
        "photo_url": (report.photo_url, MAX_URL_CHARS),
    }
    for field, (value, limit) in limits.items():
        if value is not None and len(value) > limit:
            raise InvalidInput(f"{field}: at most {limit} characters, got {len(value)}")
    if report.photo_url and not report.photo_url.startswith(("http://", "https://")):
        raise InvalidInput("photo_url: must be an http(s) URL")
    return categories[report.category]


def check_distance(conn: Connection, *, lat: float, lon: float, max_distance_m: float) -> None:
    """``InvalidInput`` naming the distance when the point is farther than ``max_distance_m``
    from every district (a city with no districts yet takes any point)."""
    distance_m = conn.execute(
        text(
            """
            WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g)
            SELECT CASE WHEN bool_or(ST_DWithin(d.geom::geography, pt.g, :max_m)) THEN 0
                        ELSE min(ST_Distance(d.geom::geography, pt.g)) END
            FROM districts d, pt
            """
        ),
        {"lat": lat, "lon": lon, "max_m": max_distance_m},
    ).scalar_one_or_none()
    if distance_m is not None and distance_m > max_distance_m:
        raise InvalidInput(
            f"lat/lon: ({lat}, {lon}) is {distance_m / 1000:,.1f} km from the nearest district; "
            f"reports are taken up to {max_distance_m / 1000:,.1f} km outside the city "
            "(check the coordinates: latitude and longitude swapped?)"
        )


def _request_hash(report: ReportInput) -> str:
    return hashlib.md5(
        json.dumps(asdict(report), sort_keys=True).encode(), usedforsecurity=False
    ).hexdigest()


# One statement: locate, find the coordinating community and a likely duplicate, insert the
# report (or nothing when the idempotency key exists) and its first event.
_SUBMIT_TEMPLATE = f"""
WITH t AS (SELECT COALESCE(CAST(:reported_at AS timestamptz), now()) AS at),
{{locate}}coord AS (
    SELECT CASE
        WHEN loc.grid_code IS NULL OR loc.community_code IS NULL THEN NULL
        -- Enclave: the point lies in another district than its community's own.
        WHEN loc.district_code IS NOT NULL
             AND left(loc.community_code, {_DISTRICT_DIGITS}) <> loc.district_code
        THEN (SELECT c.code FROM communities c
              WHERE left(c.code, {_DISTRICT_DIGITS}) = loc.district_code
                AND ST_DWithin(c.geom::geography, loc.geom::geography, :enclave_m)
              ORDER BY ST_Distance(c.geom::geography, loc.geom::geography), c.code LIMIT 1)
        -- Border: a community of another district within reach.
        ELSE (SELECT c.code FROM communities c
              WHERE left(c.code, {_DISTRICT_DIGITS})
                    <> left(loc.community_code, {_DISTRICT_DIGITS})
                AND ST_DWithin(c.geom::geography, loc.geom::geography, :border_m)
              ORDER BY ST_Distance(c.geom::geography, loc.geom::geography), c.code LIMIT 1)
    END AS code
    FROM loc
),
dup AS (
    SELECT (SELECT COALESCE(r.duplicate_of, r.id) FROM reports r, t
            WHERE r.category = :category AND r.status IN ({_OPEN_SQL})
              AND r.reported_at > t.at - make_interval(hours => :dup_hours)
              AND r.reported_at <= t.at
              AND ST_DWithin(r.geom::geography, loc.geom::geography, :dup_m)
            ORDER BY ST_Distance(r.geom::geography, loc.geom::geography), r.id LIMIT 1) AS id
    FROM loc
),
ins AS (
    INSERT INTO reports (
        category, description, status, reported_at, updated_at, located,
        district_code, subdistrict_code, community_code, grid_code,
        building_id, building_distance_m, geom,
        reporter_name, reporter_phone, photo_url, idempotency_key, request_hash,
        due_arrival_at, due_resolution_at, escalation_level, responsible_code,
        coordinating_community_code, duplicate_of)
    SELECT :category, :description, '{ReportStatus.REPORTED}', t.at, t.at,
        loc.grid_code IS NOT NULL,
        loc.district_code, loc.subdistrict_code, loc.community_code, loc.grid_code,
        loc.building_id, loc.building_distance_m, loc.geom,
        :reporter_name, :reporter_phone, :photo_url, :idempotency_key, :request_hash,
        t.at + make_interval(mins => :arrival_minutes),
        t.at + make_interval(mins => :resolution_minutes),
        '{Level.GRID}', loc.grid_code, coord.code, dup.id
    FROM t, loc, coord, dup
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, reported_at, located, duplicate_of
)
INSERT INTO report_events (report_id, action, from_status, to_status, actor, details, at)
SELECT ins.id, 'report', NULL, '{ReportStatus.REPORTED}', :actor,
    jsonb_build_object('located', ins.located, 'likely_duplicate_of', ins.duplicate_of),
    ins.reported_at
FROM ins
RETURNING report_id
"""

# Where a point lies: the hierarchy's polygons containing it and the building containing it or
# else the nearest within :snap_m metres. Shared by intake and ``locate_point``.
_LOCATE_CTES = """pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom),
loc AS (
    SELECT pt.geom,
        (SELECT d.code FROM districts d WHERE ST_Intersects(d.geom, pt.geom)
         ORDER BY d.code LIMIT 1) AS district_code,
        (SELECT s.code FROM subdistricts s WHERE ST_Intersects(s.geom, pt.geom)
         ORDER BY s.code LIMIT 1) AS subdistrict_code,
        (SELECT c.code FROM communities c WHERE ST_Intersects(c.geom, pt.geom)
         ORDER BY c.code LIMIT 1) AS community_code,
        (SELECT g.code FROM grids g WHERE ST_Intersects(g.geom, pt.geom)
         ORDER BY g.code LIMIT 1) AS grid_code,
        b.id AS building_id, b.distance_m AS building_distance_m
    FROM pt
    LEFT JOIN LATERAL (
        SELECT b.id, ST_Distance(b.geom::geography, pt.geom::geography) AS distance_m
        FROM buildings b
        WHERE ST_DWithin(b.geom::geography, pt.geom::geography, :snap_m)
        ORDER BY distance_m, b.id
        LIMIT 1
    ) b ON true
),
"""
_SUBMIT = _SUBMIT_TEMPLATE.replace("{locate}", _LOCATE_CTES)


def locate_point(conn: Connection, *, lat: float, lon: float) -> dict[str, Any]:
    """District, subdistrict, community, grid and building (with distance_m) of a point."""
    row = conn.execute(
        text("WITH " + _LOCATE_CTES.rstrip().rstrip(",") + " SELECT * FROM loc"),
        {"lat": lat, "lon": lon, "snap_m": BUILDING_SNAP_M},
    ).one()
    return {
        "district_code": row.district_code,
        "subdistrict_code": row.subdistrict_code,
        "community_code": row.community_code,
        "grid_code": row.grid_code,
        "building_id": row.building_id,
        "building_distance_m": row.building_distance_m,
    }


def submit_report(
    conn: Connection,
    report: ReportInput,
    *,
    categories: dict[str, Category],
    idempotency_key: str | None = None,
    actor: str = "resident",
    reported_at: datetime | None = None,
    max_distance_m: float = MAX_REPORT_DISTANCE_M,
) -> Submission:
    """Store a report located by PostGIS; a repeated ``idempotency_key`` returns the first one.

    Run inside a transaction (``engine.begin()``): the report and its first event are written
    together. ``reported_at`` (default: now) is for imports and tests. A point farther than
    ``max_distance_m`` metres from every district is refused (``InvalidInput``).
    """
    category = _validate_input(report, categories)
    check_distance(conn, lat=report.lat, lon=report.lon, max_distance_m=max_distance_m)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        raise InvalidInput(f"Idempotency-Key: must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} characters")
    request_hash = _request_hash(report)
    new_id = conn.execute(
        text(_SUBMIT),
        {
            **asdict(report),
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
            "reported_at": reported_at,
            "arrival_minutes": category.arrival_minutes,
            "resolution_minutes": category.resolution_minutes,
            "snap_m": BUILDING_SNAP_M,
            "border_m": BORDER_DISTANCE_M,
            "enclave_m": ENCLAVE_SEARCH_M,
            "dup_m": DUPLICATE_DISTANCE_M,
            "dup_hours": DUPLICATE_WINDOW_H,
            "actor": actor,
        },
    ).scalar_one_or_none()
    if new_id is not None:
        return Submission(get_report(conn, int(new_id), include_contact=True), replayed=False)
    # The key exists: the unique index made the insert a no-op (also under concurrent retries,
    # which wait for the first insert to commit and then see its row).
    first = conn.execute(
        text("SELECT id, request_hash FROM reports WHERE idempotency_key = :key"),
        {"key": idempotency_key},
    ).one()
    if first.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key {idempotency_key!r} was already used for report {first.id} "
            "with a different request; use a new key for a new report"
        )
    return Submission(get_report(conn, int(first.id), include_contact=True), replayed=True)
