"""Coordinate reference systems the analyses measure in."""

from __future__ import annotations


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding (``lon``, ``lat``): metres with little
    distortion across a city."""
    zone = min(60, int((lon + 180) // 6) + 1)
    return (32600 if lat >= 0 else 32700) + zone
