"""Query parameters of OGC API Features, parsed into domain values.

Every malformed value raises ``InvalidParameter`` (HTTP 400, as the standard requires) naming
the parameter and what it should look like.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from gis.core.errors import InvalidBBox, InvalidParameter
from gis.territory.layers import BBox, parse_bbox

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class TimeWindow:
    """A closed interval ``start <= t <= end``; ``None`` is an open end."""

    start: datetime | None
    end: datetime | None


def parse_ogc_bbox(value: str | None) -> BBox | None:
    """``minx,miny,maxx,maxy`` (or with heights, ignored) in CRS84 longitude/latitude."""
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) == 6:
        # minx,miny,minz,maxx,maxy,maxz: the layers are 2D, heights do not filter.
        value = ",".join((parts[0], parts[1], parts[3], parts[4]))
    try:
        return parse_bbox(value)
    except InvalidBBox as exc:
        raise InvalidParameter(exc.detail) from None


def _instant(text: str, *, end: bool) -> datetime:
    """An RFC 3339 date-time (with an offset) or a date (its first or last instant)."""
    try:
        if "T" not in text.upper():
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end else moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            f"datetime: {text!r} is not an RFC 3339 date-time such as 2026-11-24T08:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidParameter(
            f"datetime: {text!r} has no time zone; add Z or an offset such as +08:00"
        )
    return parsed


def parse_datetime(value: str | None) -> TimeWindow | None:
    """An instant, or an interval ``start/end`` where either end may be ``..`` or empty."""
    if value is None:
        return None
    if "/" not in value:
        return TimeWindow(_instant(value, end=False), _instant(value, end=True))
    first, _, second = value.partition("/")
    if "/" in second:
        raise InvalidParameter(f"datetime: an interval has one '/', got {value!r}")
    start = None if first in ("", "..") else _instant(first, end=False)
    end = None if second in ("", "..") else _instant(second, end=True)
    if start is None and end is None:
        raise InvalidParameter("datetime: an interval needs at least one end, got '../..'")
    if start is not None and end is not None and start > end:
        raise InvalidParameter(f"datetime: the interval starts after it ends: {value!r}")
    return TimeWindow(start, end)


def check_limit(limit: int) -> int:
    """The page size to use: at least 1; above the maximum the maximum is used (as the
    standard asks, not an error)."""
    if limit < 1:
        raise InvalidParameter(f"limit: must be at least 1, got {limit}")
    return min(limit, MAX_LIMIT)


def check_offset(offset: int) -> int:
    """A non-negative offset into the matching features."""
    if offset < 0:
        raise InvalidParameter(f"offset: must not be negative, got {offset}")
    return offset
