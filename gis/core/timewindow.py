"""Time windows over reports: ``since <= reported_at < until``, both ends time-zone aware.

The domain never guesses a time zone. The API and the CLI read a naive time (no offset) in the
server's configured zone (``GRIDPATROL_TIMEZONE``, the field's zone) with ``resolve_window``
before handing the window on; domain functions check it with ``check_window``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gis.core.errors import InvalidInput


@dataclass(frozen=True)
class TimeWindow:
    """A window of report times; ``None`` leaves that end open."""

    since: datetime | None = None
    until: datetime | None = None


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Asia/Shanghai``); ``InvalidInput`` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}; use an IANA name such as 'Asia/Shanghai'"
        ) from None


def in_zone(value: datetime | None, zone: tzinfo) -> datetime | None:
    """``value`` read in ``zone`` when it is naive; an aware time is kept as it is."""
    if value is None or value.utcoffset() is not None:
        return value
    return value.replace(tzinfo=zone)


def check_window(
    since: datetime | None, until: datetime | None, *, names: tuple[str, str] = ("since", "until")
) -> None:
    """``InvalidInput`` naming the parameter when an end is naive or the window ends first."""
    for name, value in zip(names, (since, until), strict=True):
        if value is not None and value.utcoffset() is None:
            raise InvalidInput(
                f"{name}: {value.isoformat()} has no time zone; give an offset (e.g. +08:00)"
            )
    if since is not None and until is not None and since > until:
        raise InvalidInput(
            f"{names[0]}: the window starts ({since.isoformat()}) after it ends "
            f"({names[1]} {until.isoformat()}); swap them"
        )


def resolve_window(
    since: datetime | None,
    until: datetime | None,
    *,
    zone: tzinfo,
    names: tuple[str, str] = ("since", "until"),
) -> TimeWindow:
    """The window with naive ends read in ``zone``, checked (``InvalidInput`` names the end)."""
    window = TimeWindow(in_zone(since, zone), in_zone(until, zone))
    check_window(window.since, window.until, names=names)
    return window
