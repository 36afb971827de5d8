"""GPS tracks of patrols: read (GPX or GeoJSON with times), checked, simplified, stored, matched.

A track is refused as a whole, naming the problem, when it is empty, unreadable or too large,
has fewer than two points, a point without a time, times going backwards or out of range,
coordinates out of range or a point far from the city (more than ``MAX_OFF_CITY_M`` from every
district, e.g. in the ocean). Reading and checking (``read_track``) touch no database, so a
caller parses before it opens its transaction and no connection waits idle in one.

Before matching, the track is simplified keeping its times: a fix is dropped only when the
simplified track, at that fix's time, is within ``SIMPLIFY_TOLERANCE_M`` of it (top-down
Douglas–Peucker on the synchronised distance, one numpy pass per level). A 1 Hz day of fixes
becomes a few thousand vertices whose M values are the original GPS times. The full track is
stored (``LINESTRINGM``, M = Unix seconds); the simplified one is matched:

- to grids (``match_grids``, vectorised shapely in the track's UTM zone, computed before the
  write transaction opens by ``record_track``): per grid the metres inside it (a grid reaching
  ``SIMPLIFY_TOLERANCE_M`` past its border, so a border street counts for both) and minutes
  (each segment's duration shared by the length inside; a segment standing still counts
  wholly), with the first and last time seen;
- to its route, in one statement: each planned stop is passed when the track comes within
  ``radius_m`` (geography) of the stop's point on the street — the point the plan walked to,
  where the route passes closest to the stop — at the time interpolated on the track
  (``ST_InterpolatePoint``). A stop set back from the street is passed by walking past it.

A track is idempotent by content: the SHA-256 of its fixes (longitude, latitude, time) is unique
per plan, so the same fixes uploaded again (as GPX or GeoJSON) answer the track stored first
with ``already_stored`` set, and coverage counts them once.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from sqlalchemy import Connection, Engine, text

from gis.core.crs import utm_epsg
from gis.core.errors import InvalidInput, NotFound
from gis.patrols.scope import Reaches, check_route

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MAX_TRACK_POINTS = 200_000
MAX_OFF_CITY_M = 1_000.0
DEFAULT_RADIUS_M = 50.0
# GPS noise is a few metres; a 50 m stop radius and grids of hundreds of metres need no finer.
SIMPLIFY_TOLERANCE_M = 5.0
# Beyond this many Douglas–Peucker levels the intervals still open keep all their fixes, so a
# crafted track cannot make simplification quadratic (it then only matches more slowly).
_MAX_LEVELS = 64
# The city check looks at a coarser simplification: every fix lies within this of it.
CITY_TOLERANCE_M = 50.0
# Times a track may carry: after 1990 and before 2100 (PostgreSQL and ISO 8601 both hold them).
_EARLIEST_S = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
_LATEST_S = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
_EARTH_RADIUS_M = 6_371_008.8
_LISTED = 5
# A DOCTYPE could declare entities (expansion bombs); GPX has no use for one.
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class TrackRejected(InvalidInput):
    """A track that cannot be stored; nothing was written."""


@dataclass(frozen=True)
class Track:
    """A read, checked GPS track: its fixes and the vertices of its simplified form.

    ``lon``/``lat`` in degrees, ``t`` in Unix seconds, never decreasing; ``kept`` indexes the
    fixes the simplified track keeps (first and last always), ``coarse`` those a coarser one
    keeps (``CITY_TOLERANCE_M``, for the check that the track stays in the city).
    """

    source: str
    lon: FloatArray
    lat: FloatArray
    t: FloatArray
    kept: IntArray
    coarse: IntArray

    @property
    def points(self) -> int:
        """Number of fixes."""
        return len(self.t)

    @property
    def content_sha256(self) -> str:
        """Hash of the fixes (not of the file): the same walk as GPX or GeoJSON is one track."""
        fixes = np.column_stack([self.lon, self.lat, self.t]).astype("<f8")
        return hashlib.sha256(fixes.tobytes()).hexdigest()

    def wkb(self, indices: IntArray | None = None) -> bytes:
        """ISO WKB ``LINESTRING M`` of the fixes (or of ``indices`` of them)."""
        chosen = slice(None) if indices is None else indices
        xyt = np.column_stack([self.lon[chosen], self.lat[chosen], self.t[chosen]]).astype("<f8")
        return b"\x01" + struct.pack("<II", 2002, len(xyt)) + xyt.tobytes()


# ----------------------------------------------------------------------------- reading
def _seconds(value: str, k: int) -> float:
    """Unix seconds of an ISO 8601 time (naive: UTC, as GPX times are by the standard)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TrackRejected(f"point {k}: time {value!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_gpx(data: bytes) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Longitudes, latitudes and times of every ``<trkpt>`` of a GPX document, in file order.

    Streamed with ElementTree (each point is dropped once read); a document declaring a
    DOCTYPE or entities is refused.
    """
    if _DECLARATION.search(data):
        raise TrackRejected("not a readable GPX file: a DOCTYPE or ENTITY declaration is refused")
    lons: list[float] = []
    lats: list[float] = []
    times: list[float] = []
    untimed: list[int] = []
    root: ET.Element | None = None
    try:
        for _, element in ET.iterparse(io.BytesIO(data), events=("end",)):
            root = element  # the last element to end is the root
            if _local(element.tag) != "trkpt":
                continue
            k = len(lons)
            try:
                lons.append(float(element.get("lon", "")))
                lats.append(float(element.get("lat", "")))
            except ValueError:
                raise TrackRejected(
                    f"point {k}: lon/lat {element.get('lon')!r}, {element.get('lat')!r} "
                    "are not numbers"
                ) from None
            moment = next((c.text for c in element if _local(c.tag) == "time"), None)
            if moment is None or not moment.strip():
                untimed.append(k)
                times.append(math.nan)
            else:
                times.append(_seconds(moment, k))
            element.clear()
    except ET.ParseError as exc:
        raise TrackRejected(f"not a readable GPX file: {exc}") from None
    if root is None or _local(root.tag) != "gpx":
        tag = "none" if root is None else f"<{_local(root.tag)}>"
        raise TrackRejected(f"not a readable GPX file: the root element is {tag}, not <gpx>")
    if not lons:
        raise TrackRejected("the GPX file holds no track points (<trkpt>)")
    if untimed:
        raise TrackRejected(
            f"{len(untimed)} track point(s) have no time (first: point {untimed[0]}); "
            "a track needs a <time> on every point"
        )
    return np.asarray(lons), np.asarray(lats), np.asarray(times)


def _number(value: int | float, k: int, what: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise TrackRejected(f"point {k}: {what} is out of range") from None


def _time(value: object, k: int) -> float:
    if isinstance(value, bool):
        raise TrackRejected(f"point {k}: time {value!r} is not a time")
    if isinstance(value, (int, float)):
        return _number(value, k, "time")
    if isinstance(value, str):
        return _seconds(value, k)
    raise TrackRejected(f"point {k}: time {value!r} is neither ISO 8601 nor Unix seconds")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_geojson(data: bytes) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A GeoJSON LineString Feature whose ``properties.times`` (or ``coordTimes``) give each
    point's time (ISO 8601 or Unix seconds); a FeatureCollection may hold exactly one."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TrackRejected(f"not readable JSON: {exc}") from exc
    except RecursionError:
        raise TrackRejected("not readable JSON: nested too deeply") from None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or len(features) != 1:
            count = len(features) if isinstance(features, list) else 0
            raise TrackRejected(
                f"a track FeatureCollection must hold one LineString feature, got {count}"
            )
        document = features[0]
    if not isinstance(document, dict) or document.get("type") != "Feature":
        raise TrackRejected(
            "a GeoJSON track must be a Feature with a LineString geometry and "
            "properties.times (one time per coordinate)"
        )
    geometry = document.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if not isinstance(geometry, dict) or kind != "LineString":
        raise TrackRejected(f"the track geometry must be a LineString, got {kind!r}")
    coordinates = geometry.get("coordinates")
    properties = document.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    times = properties.get("times", properties.get("coordTimes"))
    if not isinstance(coordinates, list) or not coordinates:
        raise TrackRejected("the track LineString has no coordinates")
    if not isinstance(times, list):
        raise TrackRejected("the track has no times: give properties.times, one per coordinate")
    if len(times) != len(coordinates):
        raise TrackRejected(
            f"properties.times has {len(times)} entries for {len(coordinates)} coordinates"
        )
    if len(coordinates) > MAX_TRACK_POINTS:
        raise TrackRejected(
            f"the track has {len(coordinates):,} points; at most {MAX_TRACK_POINTS:,}"
        )
    lons, lats, seconds = [], [], []
    for k, (position, moment) in enumerate(zip(coordinates, times, strict=True)):
        if moment is None:
            raise TrackRejected(f"point {k} has no time")
        if not (
            isinstance(position, list)
            and len(position) >= 2
            and _is_number(position[0])
            and _is_number(position[1])
        ):
            raise TrackRejected(
                f"point {k}: coordinates must be [lon, lat], got {position!r}"[:200]
            )
        lons.append(_number(position[0], k, "longitude"))
        lats.append(_number(position[1], k, "latitude"))
        seconds.append(_time(moment, k))
    return np.asarray(lons), np.asarray(lats), np.asarray(seconds)


def check_fixes(lon: FloatArray, lat: FloatArray, t: FloatArray) -> None:
    """Enough points, coordinates in range, times in range and never going backwards."""
    n = len(t)
    if n > MAX_TRACK_POINTS:
        raise TrackRejected(f"the track has {n:,} points; at most {MAX_TRACK_POINTS:,}")
    if n < 2:
        raise TrackRejected(f"a track needs at least 2 points, got {n}")
    with np.errstate(invalid="ignore"):
        bad = ~((np.abs(lon) <= 180) & (np.abs(lat) <= 90))
        if bad.any():
            k = int(np.argmax(bad))
            raise TrackRejected(f"point {k}: ({lon[k]}, {lat[k]}) is not a longitude/latitude")
        wrong = ~((t >= _EARLIEST_S) & (t < _LATEST_S))
    if wrong.any():
        k = int(np.argmax(wrong))
        raise TrackRejected(f"point {k}: time {t[k]!r} (Unix seconds) is not between 1990 and 2100")
    backwards = np.diff(t) < 0
    if backwards.any():
        k = int(np.argmax(backwards)) + 1
        raise TrackRejected(
            f"time goes backwards at point {k}: {_iso(t[k])} is before {_iso(t[k - 1])}"
        )
    if t[-1] == t[0]:
        raise TrackRejected("all points of the track have the same time")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(float(seconds), tz=UTC).isoformat()


def simplify(
    lon: FloatArray, lat: FloatArray, t: FloatArray, *, tolerance_m: float = SIMPLIFY_TOLERANCE_M
) -> IntArray:
    """Indices of the fixes a time-keeping simplification keeps (first and last included).

    Top-down Douglas–Peucker on the synchronised distance: within an interval between two kept
    fixes, the fix farthest from where the straight walk between them would be at that fix's
    time is kept when farther than ``tolerance_m``; all intervals of a level at once. Metres
    from an equirectangular projection about the track's mean latitude (errors far below the
    tolerance across a city).
    """
    n = len(t)
    lat0 = math.radians(float(np.mean(lat)))
    x = np.radians(lon - lon[0]) * math.cos(lat0) * _EARTH_RADIUS_M
    y = np.radians(lat - lat[0]) * _EARTH_RADIUS_M
    keep = np.zeros(n, dtype=bool)
    keep[[0, -1]] = True
    index = np.arange(n)
    limit = tolerance_m**2
    for _ in range(_MAX_LEVELS):
        far, group, group_max = _deviation(x, y, t, keep, index)
        candidates = np.flatnonzero((far == group_max[group]) & (far > limit))
        if not candidates.size:
            return np.flatnonzero(keep)
        _, first = np.unique(group[candidates], return_index=True)
        keep[candidates[first]] = True
    far, group, group_max = _deviation(x, y, t, keep, index)
    keep |= group_max[group] > limit
    return np.flatnonzero(keep)


def _deviation(
    x: FloatArray, y: FloatArray, t: FloatArray, keep: npt.NDArray[np.bool_], index: IntArray
) -> tuple[FloatArray, IntArray, FloatArray]:
    """Squared synchronised distance of every fix to its interval's straight walk, each fix's
    interval (numbered by its first kept fix) and each interval's largest distance."""
    n = len(t)
    before = np.maximum.accumulate(np.where(keep, index, 0))
    after = np.minimum.accumulate(np.where(keep, index, n - 1)[::-1])[::-1]
    span = t[after] - t[before]
    share = np.divide(t - t[before], span, out=np.zeros(n), where=span > 0)
    dx = x - (x[before] + share * (x[after] - x[before]))
    dy = y - (y[before] + share * (y[after] - y[before]))
    far = dx * dx + dy * dy
    far[keep] = 0.0
    group = np.cumsum(keep) - 1
    group_max = np.maximum.reduceat(far, np.flatnonzero(keep))
    return far, group, group_max


def read_track(data: bytes) -> Track:
    """A checked, simplified ``Track`` from a GPX or GeoJSON document, told apart by content."""
    body = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body:
        raise TrackRejected("the track is empty")
    if body.startswith(b"<"):
        source, (lon, lat, t) = "gpx", parse_gpx(body)
    elif body.startswith((b"{", b"[")):
        source, (lon, lat, t) = "geojson", parse_geojson(body)
    else:
        raise TrackRejected("a track must be GPX (XML) or GeoJSON")
    check_fixes(lon, lat, t)
    return Track(
        source=source,
        lon=lon,
        lat=lat,
        t=t,
        kept=simplify(lon, lat, t),
        coarse=simplify(lon, lat, t, tolerance_m=CITY_TOLERANCE_M),
    )


def read_track_file(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of a track file, refused once it passes ``max_bytes`` (read no further)."""
    try:
        with path.open("rb") as handle:
            # A regular file says its size; a pipe or device is read up to one byte past.
            size = os.fstat(handle.fileno()).st_size
            data = b"" if size > max_bytes else handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the track: {exc}") from exc
    if size > max_bytes or len(data) > max_bytes:
        raise TrackRejected(
            f"{path}: the track is larger than {max_bytes:,} bytes "
            "(GRIDPATROL_MAX_TRACK_BYTES); split it into days"
        )
    return data


# ----------------------------------------------------------------------------- storing
# Inside a district (planar, on the GiST index) is near; else within the margin (geography),
# candidates first by a bounding box grown by the margin (in degrees, generous at any latitude).
_OFF_CITY = """
SELECT p.k, p.lon, p.lat
FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:ks AS bigint[]))
     AS p(lon, lat, k)
CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) AS geom) pt
WHERE NOT EXISTS (
    SELECT 1 FROM districts d WHERE d.geom && pt.geom AND ST_Intersects(d.geom, pt.geom)
)
AND NOT EXISTS (
    SELECT 1 FROM districts d
    WHERE d.geom && ST_Expand(pt.geom, :margin_deg / greatest(cos(radians(p.lat)), 0.01))
      AND ST_DWithin(d.geom::geography, pt.geom::geography, :margin_m)
)
ORDER BY p.k
LIMIT :listed
"""


def _check_in_city(conn: Connection, track: Track) -> None:
    """Every vertex of a coarse simplification of the track near a district: a fix far out
    (the ocean, null island) is never within 50 m of the track around it, so it is a vertex."""
    if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM districts)")).scalar_one():
        raise TrackRejected("no districts are loaded: a track cannot be placed in the city")
    coarse = track.coarse
    rows = conn.execute(
        text(_OFF_CITY),
        {
            "lons": track.lon[coarse].tolist(),
            "lats": track.lat[coarse].tolist(),
            "ks": coarse.tolist(),
            "margin_m": MAX_OFF_CITY_M,
            "margin_deg": MAX_OFF_CITY_M / 100_000,
            "listed": _LISTED,
        },
    ).all()
    if rows:
        where = "; ".join(f"point {int(k)} ({lon:.5f}, {lat:.5f})" for k, lon, lat in rows)
        raise TrackRejected(
            f"the track leaves the city: more than {MAX_OFF_CITY_M:,.0f} m from every district "
            f"at {where}"
        )


_INSERT_TRACK = """
INSERT INTO patrol_tracks (plan_id, route_id, source, started_at, ended_at, points, length_m,
                           radius_m, content_sha256, geom)
SELECT :plan_id, NULL, :source, to_timestamp(:t0), to_timestamp(:t1), :n,
       ST_Length(ST_Force2D(line)::geography), :radius_m, :sha, line
FROM (SELECT ST_GeomFromWKB(:wkb, 4326) AS line) s
ON CONFLICT ON CONSTRAINT patrol_tracks_plan_content DO NOTHING
RETURNING id
"""

# The street point of each served stop of a route: where the route passes closest to it (the
# point the plan walked to and back from); the stop itself when the route has no line.
_STREET_POINTS = """
SELECT s.id AS stop_id, s.route_id,
       CASE WHEN r.geom IS NULL THEN s.geom ELSE ST_ClosestPoint(r.geom, s.geom) END AS street
FROM patrol_stops s JOIN patrol_routes r ON r.id = s.route_id
WHERE r.plan_id = :plan_id
"""

# The route whose served stops the track passes most (then the nearest route line).
_BEST_ROUTE = f"""
WITH line AS (SELECT ST_Force2D(ST_GeomFromWKB(:wkb, 4326))::geography AS g),
street AS ({_STREET_POINTS})
SELECT r.seq
FROM patrol_routes r CROSS JOIN line
WHERE r.plan_id = :plan_id
ORDER BY (SELECT count(*) FROM street p
          WHERE p.route_id = r.id AND ST_DWithin(p.street::geography, line.g, :radius_m)) DESC,
         ST_Distance(coalesce(r.geom, r.start_geom)::geography, line.g),
         r.seq
LIMIT 1
"""

# Grids in the box of the track (GiST), valid (a self-touching drawn grid would break cutting);
# which segment crosses which is shapely's (an exact test against a long line here would
# cost a polygon-line test per grid on the whole line).
_BOX_GRIDS = """
SELECT g.code,
       ST_AsBinary(CASE WHEN ST_IsValid(g.geom) THEN g.geom ELSE ST_MakeValid(g.geom) END)
FROM grids g
WHERE g.geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 4326)
ORDER BY g.code
"""

# A grid removed since the match was computed (a re-import) is left out, not an error.
_INSERT_GRIDS = """
INSERT INTO patrol_track_grids (track_id, grid_code, length_m, minutes, first_at, last_at)
SELECT :track_id, u.code, u.length_m, u.minutes, to_timestamp(u.t0), to_timestamp(u.t1)
FROM unnest(CAST(:codes AS text[]), CAST(:lengths AS float8[]), CAST(:minutes AS float8[]),
            CAST(:t0 AS float8[]), CAST(:t1 AS float8[])) AS u(code, length_m, minutes, t0, t1)
JOIN grids g ON g.code = u.code
"""


@dataclass(frozen=True)
class GridMatch:
    """Per grid the simplified track touches: metres and minutes inside, first and last time
    (Unix seconds); parallel lists."""

    codes: list[str]
    length_m: list[float]
    minutes: list[float]
    first_s: list[float]
    last_s: list[float]


def read_box_grids(conn: Connection, track: Track) -> list[tuple[str, bytes]]:
    """Grids in the bounding box of the track, as (code, WKB) made valid."""
    lon, lat = track.lon[track.kept], track.lat[track.kept]
    box = {"xmin": lon.min(), "ymin": lat.min(), "xmax": lon.max(), "ymax": lat.max()}
    rows = conn.execute(text(_BOX_GRIDS), {k: float(v) for k, v in box.items()}).all()
    return [(str(code), bytes(wkb)) for code, wkb in rows]


def match_grids(track: Track, box_grids: list[tuple[str, bytes]]) -> GridMatch:
    """Per grid: metres and minutes of the simplified track inside it, first and last time.

    Vectorised shapely in the UTM zone of the track: every segment against the grids it
    intersects (an STRtree), cut by each grid grown by ``SIMPLIFY_TOLERANCE_M`` (a street on
    a border counts for both grids); a segment's duration is shared by the length inside each
    grid, and a segment standing still counts wholly in every grid it touches.
    """
    if not box_grids:
        return GridMatch([], [], [], [], [])
    lon, lat, t = track.lon[track.kept], track.lat[track.kept], track.t[track.kept]
    to_metres = Transformer.from_crs(
        "EPSG:4326", f"EPSG:{utm_epsg(float(np.mean(lon)), float(np.mean(lat)))}", always_xy=True
    )

    def project(xy: FloatArray) -> FloatArray:
        x, y = to_metres.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    # A grid reaches SIMPLIFY_TOLERANCE_M beyond its border: the street on a border serves
    # both grids, and a track is matched the same whether a simplification moved it by that.
    grids = shapely.buffer(
        shapely.transform(shapely.from_wkb([wkb for _, wkb in box_grids]), project),
        SIMPLIFY_TOLERANCE_M,
        quad_segs=2,
    )
    x, y = to_metres.transform(lon, lat)
    ends = np.column_stack([x, y])
    segments = shapely.linestrings(np.stack([ends[:-1], ends[1:]], axis=1))
    seg, grid = shapely.STRtree(grids).query(segments, predicate="intersects")
    seg_m = shapely.length(segments)[seg]
    # Most segments lie inside one grid (a prepared test); only the others are cut.
    shapely.prepare(grids)
    crossing = ~shapely.covers(grids[grid], segments[seg])
    in_m = seg_m.copy()
    in_m[crossing] = shapely.length(
        shapely.intersection(segments[seg[crossing]], grids[grid[crossing]])
    )
    dt = (t[1:] - t[:-1])[seg]
    share = np.divide(in_m, seg_m, out=np.ones_like(in_m), where=seg_m > 0)
    count = len(box_grids)
    first = np.full(count, np.inf)
    last = np.full(count, -np.inf)
    np.minimum.at(first, grid, t[:-1][seg])
    np.maximum.at(last, grid, t[1:][seg])
    touched = np.isfinite(first)
    return GridMatch(
        codes=[code for (code, _), hit in zip(box_grids, touched, strict=True) if hit],
        length_m=np.bincount(grid, weights=in_m, minlength=count)[touched].tolist(),
        minutes=(np.bincount(grid, weights=dt * share, minlength=count) / 60)[touched].tolist(),
        first_s=first[touched].tolist(),
        last_s=last[touched].tolist(),
    )


_TRACK_STOPS = f"""
INSERT INTO patrol_track_stops (track_id, stop_id, passed, passed_at, distance_m)
WITH line AS (SELECT ST_GeomFromWKB(:wkb, 4326) AS g),
street AS ({_STREET_POINTS})
SELECT :track_id, p.stop_id, d.m <= :radius_m,
       CASE WHEN d.m <= :radius_m THEN to_timestamp(ST_InterpolatePoint(line.g, p.street)) END,
       d.m
FROM street p
CROSS JOIN line
CROSS JOIN LATERAL (
    SELECT ST_Distance(p.street::geography, ST_Force2D(line.g)::geography) AS m
) d
WHERE p.route_id = (SELECT route_id FROM patrol_tracks WHERE id = :track_id)
"""


def check_track_target(conn: Connection, plan_id: int, route_seq: int | None) -> None:
    """``NotFound`` unless the plan (and the route, when given) exists."""
    exists = conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM patrol_plans WHERE id = :id)"), {"id": plan_id}
    ).scalar_one()
    if not exists:
        raise NotFound(f"no patrol plan with id {plan_id}")
    if route_seq is not None:
        found = conn.execute(
            text("SELECT EXISTS (SELECT 1 FROM patrol_routes WHERE plan_id = :p AND seq = :s)"),
            {"p": plan_id, "s": route_seq},
        ).scalar_one()
        if not found:
            raise NotFound(f"plan {plan_id} has no route {route_seq}")


def _stored_id(conn: Connection, plan_id: int, sha: str) -> int | None:
    found = conn.execute(
        text("SELECT id FROM patrol_tracks WHERE plan_id = :p AND content_sha256 = :h"),
        {"p": plan_id, "h": sha},
    ).scalar_one_or_none()
    return None if found is None else int(found)


def store_track(
    conn: Connection,
    plan_id: int,
    track: Track,
    *,
    route_seq: int | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
    grids: GridMatch | None = None,
) -> dict[str, Any]:
    """Store a read track for a plan's route (given, or the one it follows best) and match it
    (to grids here unless ``grids`` comes matched already, see ``record_track``).

    The same fixes stored before for the plan answer that track (``already_stored``), whatever
    route or radius is given now. Raises ``NotFound`` for an unknown plan or route and
    ``TrackRejected`` (422) for a track off the city; the caller's transaction makes it
    all-or-nothing.
    """
    if not (0 < radius_m <= 1000):
        raise InvalidInput(f"radius_m must lie in (0, 1000] metres, got {radius_m:g}")
    check_track_target(conn, plan_id, route_seq)
    sha = track.content_sha256
    existing = _stored_id(conn, plan_id, sha)
    if existing is not None:
        return get_track(conn, existing) | {"already_stored": True}
    _check_in_city(conn, track)
    inserted = conn.execute(
        text(_INSERT_TRACK),
        {
            "plan_id": plan_id,
            "source": track.source,
            "t0": float(track.t[0]),
            "t1": float(track.t[-1]),
            "n": track.points,
            "radius_m": radius_m,
            "sha": sha,
            "wkb": track.wkb(),
        },
    ).scalar_one_or_none()
    if inserted is None:  # stored meanwhile by a concurrent upload of the same fixes
        existing = _stored_id(conn, plan_id, sha)
        assert existing is not None, "a conflicting track is visible once its writer committed"
        return get_track(conn, existing) | {"already_stored": True}
    track_id = int(inserted)
    simplified = track.wkb(track.kept)
    if route_seq is None:
        route_seq = conn.execute(
            text(_BEST_ROUTE), {"wkb": simplified, "plan_id": plan_id, "radius_m": radius_m}
        ).scalar_one_or_none()
    conn.execute(
        text(
            "UPDATE patrol_tracks SET route_id = "
            "(SELECT id FROM patrol_routes WHERE plan_id = :p AND seq = :s) WHERE id = :t"
        ),
        {"p": plan_id, "s": route_seq, "t": track_id},
    )
    if grids is None:
        grids = match_grids(track, read_box_grids(conn, track))
    conn.execute(
        text(_INSERT_GRIDS),
        {
            "track_id": track_id,
            "codes": grids.codes,
            "lengths": grids.length_m,
            "minutes": grids.minutes,
            "t0": grids.first_s,
            "t1": grids.last_s,
        },
    )
    conn.execute(
        text(_TRACK_STOPS),
        {"track_id": track_id, "wkb": simplified, "radius_m": radius_m, "plan_id": plan_id},
    )
    return get_track(conn, track_id) | {"already_stored": False}


def record_track(
    engine: Engine,
    plan_id: int,
    track: Track,
    *,
    route_seq: int | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
    reaches: Reaches | None = None,
) -> dict[str, Any]:
    """``store_track`` in its own transaction, the grids matched before it opens: the
    transaction holds only SQL, so its connection never waits idle in it on Python work.
    With ``reaches`` (an account's grant), the route the track lands on must be of a patroller
    it reaches, else ``Forbidden`` and nothing is kept."""
    with engine.connect() as conn:
        box_grids = read_box_grids(conn, track)
    grids = match_grids(track, box_grids)
    with engine.begin() as conn:
        stored = store_track(
            conn, plan_id, track, route_seq=route_seq, radius_m=radius_m, grids=grids
        )
        if reaches is not None:
            check_route(conn, plan_id, stored["route_seq"], reaches=reaches)
        return stored


def add_track(
    conn: Connection,
    plan_id: int,
    data: bytes,
    *,
    route_seq: int | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
) -> dict[str, Any]:
    """``read_track`` then ``store_track`` (callers holding a transaction open should read
    first, outside it)."""
    return store_track(conn, plan_id, read_track(data), route_seq=route_seq, radius_m=radius_m)


def get_track(conn: Connection, track_id: int) -> dict[str, Any]:
    """A stored track with its grids and the stops it passed and missed."""
    row = conn.execute(
        text(
            """
            SELECT t.id, t.plan_id, r.seq AS route_seq, r.patroller_name, t.source,
                   t.started_at, t.ended_at, t.points, t.length_m, t.radius_m
            FROM patrol_tracks t LEFT JOIN patrol_routes r ON r.id = t.route_id
            WHERE t.id = :id
            """
        ),
        {"id": track_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no track with id {track_id}")
    track = row._mapping
    grids = conn.execute(
        text(
            "SELECT grid_code, length_m, minutes, first_at, last_at FROM patrol_track_grids "
            "WHERE track_id = :id ORDER BY first_at, grid_code"
        ),
        {"id": track_id},
    ).all()
    stops = conn.execute(
        text(
            """
            SELECT s.id AS stop_id, s.seq, s.kind, s.ref, ts.passed, ts.passed_at, ts.distance_m
            FROM patrol_track_stops ts JOIN patrol_stops s ON s.id = ts.stop_id
            WHERE ts.track_id = :id ORDER BY s.seq
            """
        ),
        {"id": track_id},
    ).all()

    def stop_json(stop: Any) -> dict[str, Any]:
        s = stop._mapping
        return {
            "stop_id": int(s["stop_id"]),
            "seq": s["seq"],
            "kind": s["kind"],
            "ref": s["ref"],
            "passed": bool(s["passed"]),
            "passed_at": None
            if s["passed_at"] is None
            else s["passed_at"].isoformat(timespec="seconds"),
            "distance_m": None if s["distance_m"] is None else round(float(s["distance_m"]), 1),
        }

    return {
        "id": int(track["id"]),
        "plan_id": int(track["plan_id"]),
        "route_seq": track["route_seq"],
        "patroller": track["patroller_name"],
        "source": track["source"],
        "started_at": track["started_at"].isoformat(timespec="seconds"),
        "ended_at": track["ended_at"].isoformat(timespec="seconds"),
        "points": int(track["points"]),
        "length_m": round(float(track["length_m"]), 1),
        "radius_m": float(track["radius_m"]),
        "grids": [
            {
                "grid_code": g.grid_code,
                "length_m": round(float(g.length_m), 1),
                "minutes": round(float(g.minutes), 2),
                "first_at": g.first_at.isoformat(timespec="seconds"),
                "last_at": g.last_at.isoformat(timespec="seconds"),
            }
            for g in grids
        ],
        "stops_passed": [stop_json(s) for s in stops if s.passed],
        "stops_missed": [stop_json(s) for s in stops if not s.passed],
    }
