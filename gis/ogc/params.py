"""Query parameters of OGC API Features, parsed into domain values.

Every malformed value raises ``InvalidParameter`` (HTTP 400, as the standard requires) naming
the parameter and what it should look like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from gis.core.errors import InvalidBBox, InvalidParameter
from gis.territory.layers import DECIMAL_PATTERN, LAT_PATTERN, LON_PATTERN, BBox, parse_bbox

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000

# What the OpenAPI document says these parameters take, and what the parsers enforce. Left
# to the descriptions: min <= max in a bbox, a start before the end of an interval, and a
# day that exists in its month (2026-02-30 matches the pattern and is refused).
_CORNER = f"{LON_PATTERN},{LAT_PATTERN}"
OGC_BBOX_PATTERN = (
    f"^({_CORNER},{_CORNER}|{_CORNER},{DECIMAL_PATTERN},{_CORNER},{DECIMAL_PATTERN})?$"
)
_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = (
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
INSTANT_PATTERN = f"{_DATE}({_TIME})?"
DATETIME_PATTERN = (
    f"^({INSTANT_PATTERN}|{INSTANT_PATTERN}/({INSTANT_PATTERN}|\\.\\.)?"
    f"|(\\.\\.)?/{INSTANT_PATTERN})$"
)


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
        for height in (parts[2], parts[5]):
            if not re.fullmatch(DECIMAL_PATTERN, height):
                raise InvalidParameter(f"bbox: a height must be a number, got {height!r}")
        value = ",".join((parts[0], parts[1], parts[3], parts[4]))
    try:
        return parse_bbox(value)
    except InvalidBBox as exc:
        raise InvalidParameter(exc.detail) from None


def _instant(text: str, *, end: bool) -> datetime:
    """An RFC 3339 date-time (with an offset) or a date (its first or last instant)."""
    if not re.fullmatch(INSTANT_PATTERN, text):
        if re.fullmatch(f"{_DATE}T[0-9:.]+", text):
            raise InvalidParameter(
                f"datetime: {text!r} has no time zone; add Z or an offset such as +08:00"
            )
        raise InvalidParameter(
            f"datetime: {text!r} is not an RFC 3339 date-time such as 2026-11-24T08:00:00Z"
            " (or a date such as 2026-11-24)"
        )
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
