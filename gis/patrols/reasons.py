"""Why a stop is not on any route: a machine-read code plus a human detail.

The code is stored in ``patrol_stops.reason_code`` (checked against this list), the detail in
``patrol_stops.reason``; clients and tests match codes, people read the detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UnservedCode(StrEnum):
    """The reasons a stop is left out of a plan."""

    # No street within ``max_snap_m`` of the stop.
    NO_STREET = "no_street"
    # Its nearest street belongs to a component no patroller starts on.
    OTHER_COMPONENT = "other_component"
    # ``by_district``: no patroller of the stop's district.
    OUT_OF_DISTRICT = "out_of_district"
    # Its street is not connected to any allowed patroller's start.
    NOT_CONNECTED = "not_connected"
    # Even alone, the round trip takes longer than every allowed shift.
    SHIFT_TOO_SHORT = "shift_too_short"
    # Even alone, the round trip is longer than every allowed walking limit.
    BEYOND_WALK_LIMIT = "beyond_walk_limit"
    # A required stop the team has no time left for: the plan is over capacity.
    OVER_CAPACITY = "over_capacity"
    # An optional stop left out because the ones served were worth more or lay nearer.
    LESS_VALUABLE = "less_valuable"


UNSERVED_CODES: tuple[str, ...] = tuple(code.value for code in UnservedCode)


@dataclass(frozen=True)
class Unserved:
    """Why one stop is unserved: the code and the detail a person reads."""

    code: UnservedCode
    detail: str
