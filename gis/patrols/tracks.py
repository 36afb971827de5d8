"""GPS tracks of patrols: parsed (GPX or GeoJSON with times), checked, stored, matched.

A track is refused as a whole, naming the problem, when it is empty or unreadable, has fewer
than two points, a point without a time, times going backwards, coordinates out of range or a
point far from the city (more than ``MAX_OFF_CITY_M`` from every district, e.g. in the ocean).
A clean track is stored as a ``LINESTRINGM`` (M = Unix seconds) and, in the same transaction:

- matched to grids: per grid the metres (``ST_Length(geography)`` of the part inside) and
  minutes (each segment's duration shared by the length inside; a segment standing still counts
  wholly), with the first and last time seen;
- compared with its route: each planned stop is passed when the track comes within
  ``radius_m`` (geography), at the time interpolated on the track (``ST_InterpolatePoint``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gpxpy
import gpxpy.gpx
from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput, NotFound

MAX_TRACK_POINTS = 200_000
MAX_OFF_CITY_M = 1_000.0
DEFAULT_RADIUS_M = 50.0
_LISTED = 5


class TrackRejected(InvalidInput):
    """A track that cannot be stored; nothing was written."""


@dataclass(frozen=True)
class TrackPoint:
    """A GPS fix."""

    lon: float
    lat: float
    time: datetime


def _aware(value: datetime) -> datetime:
    # GPX times are UTC by the standard; a naive time is read as UTC too.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_gpx(data: bytes) -> list[TrackPoint]:
    """Track points of every track and segment of a GPX document, in file order."""
    try:
        document = gpxpy.parse(data.decode("utf-8-sig"))
    except (gpxpy.gpx.GPXException, UnicodeDecodeError, ValueError) as exc:
        raise TrackRejected(f"not a readable GPX file: {exc}") from exc
    raw = [
        (k, p.longitude, p.latitude, p.time)
        for k, p in enumerate(
            q for track in document.tracks for segment in track.segments for q in segment.points
        )
    ]
    if not raw:
        raise TrackRejected("the GPX file holds no track points (<trkpt>)")
    untimed = [k for k, *_, t in raw if t is None]
    if untimed:
        raise TrackRejected(
            f"{len(untimed)} track point(s) have no time (first: point {untimed[0]}); "
            "a track needs a <time> on every point"
        )
    return [TrackPoint(float(x), float(y), _aware(t)) for _, x, y, t in raw if t is not None]


def _time(value: object, k: int) -> datetime:
    if isinstance(value, bool):
        raise TrackRejected(f"point {k}: time {value!r} is not a time")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        try:
            return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise TrackRejected(f"point {k}: time {value!r} is neither ISO 8601 nor Unix seconds")


def parse_geojson(data: bytes) -> list[TrackPoint]:
    """A GeoJSON LineString Feature whose ``properties.times`` (or ``coordTimes``) give each
    point's time (ISO 8601 or Unix seconds); a FeatureCollection may hold exactly one."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TrackRejected(f"not readable JSON: {exc}") from exc
    except RecursionError:
        raise TrackRejected("not readable JSON: nested too deeply") from None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features") or []
        if len(features) != 1:
            raise TrackRejected(
                f"a track FeatureCollection must hold one LineString feature, got {len(features)}"
            )
        document = features[0]
    if not isinstance(document, dict) or document.get("type") != "Feature":
        raise TrackRejected(
            "a GeoJSON track must be a Feature with a LineString geometry and "
            "properties.times (one time per coordinate)"
        )
    geometry = document.get("geometry") or {}
    if geometry.get("type") != "LineString":
        raise TrackRejected(f"the track geometry must be a LineString, got {geometry.get('type')}")
    coordinates = geometry.get("coordinates") or []
    properties = document.get("properties") or {}
    times = properties.get("times", properties.get("coordTimes"))
    if not coordinates:
        raise TrackRejected("the track LineString has no coordinates")
    if not isinstance(times, list):
        raise TrackRejected("the track has no times: give properties.times, one per coordinate")
    if len(times) != len(coordinates):
        raise TrackRejected(
            f"properties.times has {len(times)} entries for {len(coordinates)} coordinates"
        )
    points = []
    for k, (position, moment) in enumerate(zip(coordinates, times, strict=True)):
        if moment is None:
            raise TrackRejected(f"point {k} has no time")
        if not (
            isinstance(position, list)
            and len(position) >= 2
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in position[:2])
        ):
            raise TrackRejected(f"point {k}: coordinates must be [lon, lat], got {position!r}")
        points.append(TrackPoint(float(position[0]), float(position[1]), _time(moment, k)))
    return points


def parse_track(data: bytes) -> tuple[str, list[TrackPoint]]:
    """``("gpx" | "geojson", points)`` from a GPX or GeoJSON document, told apart by content."""
    body = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not body:
        raise TrackRejected("the track is empty")
    if body.startswith(b"<"):
        return "gpx", parse_gpx(body)
    if body.startswith((b"{", b"[")):
        return "geojson", parse_geojson(body)
    raise TrackRejected("a track must be GPX (XML) or GeoJSON")


def check_points(points: list[TrackPoint]) -> None:
    """Enough points, coordinates in range, times never going backwards."""
    if len(points) > MAX_TRACK_POINTS:
        raise TrackRejected(f"the track has {len(points):,} points; at most {MAX_TRACK_POINTS:,}")
    if len(points) < 2:
        raise TrackRejected(f"a track needs at least 2 points, got {len(points)}")
    for k, p in enumerate(points):
        if not (-180 <= p.lon <= 180 and -90 <= p.lat <= 90):
            raise TrackRejected(f"point {k}: ({p.lon}, {p.lat}) is not a longitude/latitude")
    for k in range(1, len(points)):
        if points[k].time < points[k - 1].time:
            raise TrackRejected(
                f"time goes backwards at point {k}: {points[k].time.isoformat()} is before "
                f"{points[k - 1].time.isoformat()}"
            )
    if points[-1].time == points[0].time:
        raise TrackRejected("all points of the track have the same time")


_OFF_CITY = """
SELECT p.k, p.lon, p.lat
FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, k)
WHERE NOT EXISTS (
    SELECT 1 FROM districts d
    WHERE ST_DWithin(d.geom::geography,
                     ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography, :margin_m)
)
ORDER BY p.k
LIMIT :listed
"""


def _check_in_city(conn: Connection, points: list[TrackPoint]) -> None:
    if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM districts)")).scalar_one():
        raise TrackRejected("no districts are loaded: a track cannot be placed in the city")
    rows = conn.execute(
        text(_OFF_CITY),
        {
            "lons": [p.lon for p in points],
            "lats": [p.lat for p in points],
            "margin_m": MAX_OFF_CITY_M,
            "listed": _LISTED,
        },
    ).all()
    if rows:
        where = "; ".join(f"point {int(k) - 1} ({lon:.5f}, {lat:.5f})" for k, lon, lat in rows)
        raise TrackRejected(
            f"the track leaves the city: more than {MAX_OFF_CITY_M:,.0f} m from every district "
            f"at {where}"
        )


_INSERT_TRACK = """
INSERT INTO patrol_tracks (plan_id, route_id, source, started_at, ended_at, points, length_m, geom)
SELECT :plan_id, NULL, :source, to_timestamp(:t0), to_timestamp(:t1), :n,
       ST_Length(ST_Force2D(line)::geography), line
FROM (
    SELECT ST_SetSRID(ST_MakeLine(ST_MakePointM(x, y, t) ORDER BY k), 4326) AS line
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:times AS float8[]))
         WITH ORDINALITY AS u(x, y, t, k)
) s
RETURNING id
"""

# The route whose served stops the track passes most (then the nearest route line).
_BEST_ROUTE = """
SELECT r.seq
FROM patrol_routes r JOIN patrol_tracks t ON t.id = :track_id
WHERE r.plan_id = :plan_id
ORDER BY (SELECT count(*) FROM patrol_stops s
          WHERE s.route_id = r.id
            AND ST_DWithin(s.geom::geography, ST_Force2D(t.geom)::geography, :radius_m)) DESC,
         ST_Distance(coalesce(r.geom, r.start_geom)::geography,
                     ST_Force2D(t.geom)::geography),
         r.seq
LIMIT 1
"""

_TRACK_GRIDS = """
INSERT INTO patrol_track_grids (track_id, grid_code, length_m, minutes, first_at, last_at)
WITH seg AS (
    SELECT d.geom AS g, ST_Force2D(d.geom) AS g2,
           ST_M(ST_StartPoint(d.geom)) AS t0, ST_M(ST_EndPoint(d.geom)) AS t1
    FROM patrol_tracks t CROSS JOIN LATERAL ST_DumpSegments(t.geom) AS d
    WHERE t.id = :track_id
),
parts AS (
    SELECT g.code, s.t0, s.t1, ST_Length(s.g2::geography) AS seg_m,
           ST_Length(ST_Intersection(s.g2, CASE WHEN ST_IsValid(g.geom) THEN g.geom
                                                ELSE ST_MakeValid(g.geom) END)::geography)
               AS in_m
    FROM seg s JOIN grids g ON g.geom && s.g2 AND ST_Intersects(g.geom, s.g2)
)
SELECT :track_id, code, sum(in_m),
       sum(CASE WHEN seg_m > 0 THEN (t1 - t0) * in_m / seg_m ELSE t1 - t0 END) / 60.0,
       to_timestamp(min(t0)), to_timestamp(max(t1))
FROM parts
GROUP BY code
"""

_TRACK_STOPS = """
INSERT INTO patrol_track_stops (track_id, stop_id, passed, passed_at, distance_m)
SELECT t.id, s.id, d.m <= :radius_m,
       CASE WHEN d.m <= :radius_m THEN to_timestamp(ST_InterpolatePoint(t.geom, s.geom)) END,
       d.m
FROM patrol_tracks t
JOIN patrol_routes r ON r.plan_id = t.plan_id AND r.id = t.route_id
JOIN patrol_stops s ON s.route_id = r.id
CROSS JOIN LATERAL (
    SELECT ST_Distance(s.geom::geography, ST_Force2D(t.geom)::geography) AS m
) d
WHERE t.id = :track_id
"""


def add_track(
    conn: Connection,
    plan_id: int,
    data: bytes,
    *,
    route_seq: int | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
) -> dict[str, Any]:
    """Store a GPS track for a plan's route (given, or the one it follows best) and match it.

    Raises ``NotFound`` for an unknown plan or route and ``TrackRejected`` (422) for a bad track;
    the caller's transaction makes it all-or-nothing.
    """
    if not (0 < radius_m <= 1000):
        raise InvalidInput(f"radius_m must lie in (0, 1000] metres, got {radius_m:g}")
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
    source, points = parse_track(data)
    check_points(points)
    _check_in_city(conn, points)
    track_id = int(
        conn.execute(
            text(_INSERT_TRACK),
            {
                "plan_id": plan_id,
                "source": source,
                "t0": points[0].time.timestamp(),
                "t1": points[-1].time.timestamp(),
                "n": len(points),
                "lons": [p.lon for p in points],
                "lats": [p.lat for p in points],
                "times": [p.time.timestamp() for p in points],
            },
        ).scalar_one()
    )
    if route_seq is None:
        route_seq = conn.execute(
            text(_BEST_ROUTE), {"track_id": track_id, "plan_id": plan_id, "radius_m": radius_m}
        ).scalar_one_or_none()
    conn.execute(
        text(
            "UPDATE patrol_tracks SET route_id = "
            "(SELECT id FROM patrol_routes WHERE plan_id = :p AND seq = :s) WHERE id = :t"
        ),
        {"p": plan_id, "s": route_seq, "t": track_id},
    )
    conn.execute(text(_TRACK_GRIDS), {"track_id": track_id})
    conn.execute(text(_TRACK_STOPS), {"track_id": track_id, "radius_m": radius_m})
    return get_track(conn, track_id, radius_m=radius_m)


def get_track(conn: Connection, track_id: int, *, radius_m: float) -> dict[str, Any]:
    """A stored track with its grids and the stops it passed and missed."""
    row = conn.execute(
        text(
            """
            SELECT t.id, t.plan_id, r.seq, r.patroller_name, t.source, t.started_at, t.ended_at,
                   t.points, t.length_m
            FROM patrol_tracks t LEFT JOIN patrol_routes r ON r.id = t.route_id
            WHERE t.id = :id
            """
        ),
        {"id": track_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no track with id {track_id}")
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
            SELECT s.id, s.seq, s.kind, s.ref, ts.passed, ts.passed_at, ts.distance_m
            FROM patrol_track_stops ts JOIN patrol_stops s ON s.id = ts.stop_id
            WHERE ts.track_id = :id ORDER BY s.seq
            """
        ),
        {"id": track_id},
    ).all()

    def stop_json(s: Any) -> dict[str, Any]:
        return {
            "stop_id": int(s[0]),
            "seq": s[1],
            "kind": s[2],
            "ref": s[3],
            "passed": bool(s[4]),
            "passed_at": None if s[5] is None else s[5].isoformat(timespec="seconds"),
            "distance_m": None if s[6] is None else round(float(s[6]), 1),
        }

    return {
        "id": int(row[0]),
        "plan_id": int(row[1]),
        "route_seq": row[2],
        "patroller": row[3],
        "source": row[4],
        "started_at": row[5].isoformat(timespec="seconds"),
        "ended_at": row[6].isoformat(timespec="seconds"),
        "points": int(row[7]),
        "length_m": round(float(row[8]), 1),
        "radius_m": radius_m,
        "grids": [
            {
                "grid_code": g[0],
                "length_m": round(float(g[1]), 1),
                "minutes": round(float(g[2]), 2),
                "first_at": g[3].isoformat(timespec="seconds"),
                "last_at": g[4].isoformat(timespec="seconds"),
            }
            for g in grids
        ],
        "stops_passed": [stop_json(s) for s in stops if s[4]],
        "stops_missed": [stop_json(s) for s in stops if not s[4]],
    }
