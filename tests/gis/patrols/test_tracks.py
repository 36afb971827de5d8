"""Reading GPS tracks without a database: GPX and GeoJSON, bad input named, the time-keeping
simplification checked against positions interpolated independently (pyproj metres)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from gis.patrols.tracks import (
    MAX_TRACK_POINTS,
    SIMPLIFY_TOLERANCE_M,
    TrackRejected,
    parse_geojson,
    read_track,
    read_track_file,
)

_TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _noisy_walk(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 1 Hz walk east then north (1.3 m/s) with correlated GPS noise, in degrees."""
    rng = np.random.default_rng(seed)
    s = np.arange(n) * 1.3
    half = s[n // 2]
    east = np.minimum(s, half)
    north = np.maximum(s - half, 0)
    noise = np.cumsum(rng.normal(0, 0.4, (n, 2)), axis=0)
    noise -= np.linspace(0, 1, n)[:, None] * noise[-1]  # a bounded wander, not a drift
    lon = 104.05 + (east + noise[:, 0]) / (111_320 * np.cos(np.radians(30.66)))
    lat = 30.66 + (north + noise[:, 1]) / 111_320
    return lon, lat, T0.timestamp() + np.arange(n, dtype=float)


def _gpx(lon: np.ndarray, lat: np.ndarray, t: np.ndarray) -> bytes:
    points = "".join(
        f'<trkpt lat="{y!r}" lon="{x!r}"><ele>500</ele>'
        f"<time>{datetime.fromtimestamp(s, tz=UTC).isoformat()}</time></trkpt>"
        for x, y, s in zip(lon.tolist(), lat.tolist(), t.tolist(), strict=True)
    )
    return (
        '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{points}</trkseg></trk></gpx>"
    ).encode()


def _geojson(lon: np.ndarray, lat: np.ndarray, t: np.ndarray) -> bytes:
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[x, y] for x, y in zip(lon.tolist(), lat.tolist(), strict=True)],
        },
        "properties": {"times": [datetime.fromtimestamp(s, tz=UTC).isoformat() for s in t]},
    }
    return json.dumps(feature).encode()


def test_simplified_track_keeps_every_fix_within_tolerance_at_its_time() -> None:
    lon, lat, t = _noisy_walk(3_000)
    track = read_track(_gpx(lon, lat, t))
    assert track.source == "gpx" and track.points == 3_000
    kept = track.kept
    assert kept[0] == 0 and kept[-1] == 2_999 and len(kept) < 3_000 // 5
    # Where the simplified track is at each fix's time (linear in time between kept fixes),
    # in UTM metres, is within the tolerance of the fix.
    x, y = _TO_UTM.transform(lon, lat)
    at_x = np.interp(t, t[kept], np.asarray(x)[kept])
    at_y = np.interp(t, t[kept], np.asarray(y)[kept])
    off = np.hypot(at_x - x, at_y - y)
    assert off.max() <= SIMPLIFY_TOLERANCE_M * 1.01
    # The times are the fixes' own.
    assert np.array_equal(track.t[kept], t[kept])


def test_same_fixes_as_gpx_or_geojson_have_one_content_hash() -> None:
    lon, lat, t = _noisy_walk(200)
    gpx, geojson = read_track(_gpx(lon, lat, t)), read_track(_geojson(lon, lat, t))
    assert geojson.source == "geojson"
    assert gpx.content_sha256 == geojson.content_sha256
    moved = read_track(_gpx(lon, lat, t + 1))
    assert moved.content_sha256 != gpx.content_sha256


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_nested(1_000), "nested too deeply"),
        (b'{"type": "Feature", "geometry": ' + _nested(5_000) + b"}", "nested too deeply"),
        (
            b'{"type":"Feature","geometry":{"type":"LineString","coordinates":[[104,30],[104,30.1]]},'
            b'"properties":{"times":[1e400, 1764000000]}}',
            "not between 1990 and 2100",
        ),
        (
            b'{"type":"Feature","geometry":{"type":"LineString","coordinates":[[104,30],[104,30.1]]},'
            b'"properties":{"times":[' + b"9" * 400 + b", 1764000000]}}",
            "out of range",
        ),
        (
            b'{"type":"Feature","geometry":{"type":"LineString","coordinates":[[104,30],[204,30]]},'
            b'"properties":{"times":[1764000000, 1764000060]}}',
            "point 1: (204.0, 30.0) is not a longitude/latitude",
        ),
        (
            b'{"type":"Feature","geometry":{"type":"LineString","coordinates":[[104,30],[104,NaN]]},'
            b'"properties":{"times":[1764000000, 1764000060]}}',
            "is not a longitude/latitude",
        ),
        (
            b'{"type":"Feature","geometry":{"type":"LineString","coordinates":[[104,30],[104,31]]},'
            b'"properties":{"times":["2026-11-24T10:00:00Z", "yesterday"]}}',
            "point 1: time 'yesterday' is not ISO 8601",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaa">]><gpx><trk><trkseg>'
            b'<trkpt lat="30" lon="104"><time>&a;</time></trkpt></trkseg></trk></gpx>',
            "DOCTYPE or ENTITY declaration is refused",
        ),
        (b"<kml><Placemark/></kml>", "the root element is <kml>, not <gpx>"),
        (
            b'<gpx><trk><trkseg><trkpt lat="x" lon="104"><time>2026-11-24T10:00:00Z</time>'
            b"</trkpt></trkseg></trk></gpx>",
            "point 0: lon/lat '104', 'x' are not numbers",
        ),
        (b'<gpx><trk><trkseg><trkpt lat="30" lon="104"></trkpt>', "not a readable GPX file"),
    ],
    ids=[
        "deep-array",
        "deep-geometry",
        "infinite-time",
        "huge-integer-time",
        "longitude-204",
        "nan-latitude",
        "word-as-time",
        "entity-declaration",
        "kml",
        "lat-not-number",
        "truncated-gpx",
    ],
)
def test_bad_tracks_are_named(body: bytes, expected: str) -> None:
    with pytest.raises(TrackRejected) as refused:
        read_track(body)
    assert expected in str(refused.value)


def test_deep_json_is_refused_by_the_geojson_parser_itself() -> None:
    with pytest.raises(TrackRejected, match="nested too deeply"):
        parse_geojson(_nested(100_000))


def test_too_many_points_are_refused_before_reading_them() -> None:
    n = MAX_TRACK_POINTS + 1
    body = (
        b'{"type":"Feature","geometry":{"type":"LineString","coordinates":['
        + b",".join([b"[104,30]"] * n)
        + b']},"properties":{"times":['
        + b",".join([b"1764000000"] * n)
        + b"]}}"
    )
    with pytest.raises(TrackRejected, match=f"at most {MAX_TRACK_POINTS:,}"):
        read_track(body)


def test_a_file_over_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.gpx"
    path.write_bytes(b"<gpx>" + b" " * 10_000 + b"</gpx>")
    with pytest.raises(TrackRejected, match="larger than 4,096 bytes"):
        read_track_file(path, max_bytes=4_096)
    assert read_track_file(path, max_bytes=20_000).startswith(b"<gpx>")


def test_a_walk_standing_still_keeps_its_minutes() -> None:
    # Ten minutes standing at one place between two walks: the simplified track keeps a fix
    # at each end of the stay, so the stay is not spread over the walk.
    lon, lat, t = _noisy_walk(600, seed=4)
    stay = np.full(600, lon[299]), np.full(600, lat[299])
    lon2 = np.concatenate([lon[:300], stay[0], lon[300:]])
    lat2 = np.concatenate([lat[:300], stay[1], lat[300:]])
    t2 = T0.timestamp() + np.arange(1_200, dtype=float)
    track = read_track(_gpx(lon2, lat2, t2))
    kept_times = track.t[track.kept]
    start = (T0 + timedelta(seconds=299)).timestamp()
    assert np.any(np.abs(kept_times - start) <= 2)
    assert np.any(np.abs(kept_times - (start + 600)) <= 2)
