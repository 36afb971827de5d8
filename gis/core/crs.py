"""Coordinate reference systems the analyses measure in.

A city's metric CRS is the UTM zone of its centre: a transverse Mercator, exact near its
central meridian and undefined far from it (PROJ answers "Point outside of projection domain"
about 90° away). Whatever is projected into it must first be cut to the city's surroundings:
``city_window`` is the envelope to cut with.
"""

from __future__ import annotations

# Degrees added around the grids' extent: reports just outside the city still count as
# near it; anything beyond is not the city's and is never projected.
CITY_MARGIN_DEG = 0.5

Bounds = tuple[float, float, float, float]


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding (``lon``, ``lat``): metres with little
    distortion across a city."""
    zone = min(60, int((lon + 180) // 6) + 1)
    return (32600 if lat >= 0 else 32700) + zone


def city_window(bounds: Bounds, *, margin_deg: float = CITY_MARGIN_DEG) -> Bounds:
    """The lon/lat envelope around ``bounds`` (the grids' extent) inside which points may be
    projected to the city's UTM zone: the extent widened by ``margin_deg``."""
    xmin, ymin, xmax, ymax = bounds
    return (
        max(-180.0, xmin - margin_deg),
        max(-90.0, ymin - margin_deg),
        min(180.0, xmax + margin_deg),
        min(90.0, ymax + margin_deg),
    )
