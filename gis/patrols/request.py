"""What a patrol plan is asked for: the "Patrols" contract's request, validated.

The API takes it as the JSON body of ``POST /patrols/plan`` and the CLI reads it from a JSON file
(or builds it from flags); both hand the same ``PlanRequest`` to ``plan_patrols``. Unknown fields
are refused, so a misspelt option is a 422 naming it rather than silently ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gis.core.timewindow import in_zone
from gis.core.vocabulary import CODE_DIGITS, Level
from gis.territory.importing import FACILITY_KINDS

Mode = Literal["joint", "by_district"]
Objective = Literal["balanced", "shortest"]
# The field's rule: a hot spot is worth a 10-15 minute stay (the Koper curve).
DEFAULT_DWELL_MINUTES = 12.0
DEFAULT_SHIFT_MINUTES = 240.0
DEFAULT_STALE_DWELL_MINUTES = 10.0
# Furthest a stop or start may lie from the street it is reached by (metres, walked both ways).
DEFAULT_MAX_SNAP_M = 250.0
MAX_PATROLLERS = 100
# A day's walk and more: a limit beyond it is a typo (metres given as kilometres).
MAX_WALK_KM = 100.0
MAX_STOPS_LISTED = 5000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_number(value: object) -> object:
    """A time must be ISO 8601 text: pydantic would read a number as Unix seconds (a typo'd
    ``start_at`` of 2026 became 1970)."""
    if isinstance(value, int | float):
        raise ValueError("give the time as ISO 8601 text with its offset, not a number")
    return value


class LonLat(_Strict):
    """A point in EPSG:4326 degrees."""

    lon: float = Field(ge=-180, le=180, description="longitude, degrees")
    lat: float = Field(ge=-90, le=90, description="latitude, degrees")


class FacilityRef(_Strict):
    """A start or end at a stored facility (e.g. a service station), by its code."""

    facility: str = Field(min_length=1, max_length=100)


Place = LonLat | FacilityRef


class PatrollerIn(_Strict):
    """Who patrols: where they start and end, how long their shift is, their district."""

    name: str = Field(min_length=1, max_length=100)
    worker: str | None = Field(default=None, max_length=100, description="a worker code")
    start: Place
    end: Place | None = Field(default=None, description="default: the start")
    shift_minutes: float = Field(default=DEFAULT_SHIFT_MINUTES, gt=0, le=24 * 60)
    max_walk_km: float | None = Field(
        default=None,
        gt=0,
        le=MAX_WALK_KM,
        description="furthest this patroller walks along the streets, start to end (the "
        "route's length_m); spreads the stops over a team that starts together. Default: as "
        "far as the shift allows",
    )
    district: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="default: the district holding the start"
    )


class HotGridsIn(_Strict):
    """Gi* hot grids (unit=grid) at a confidence, each visited for ``dwell_minutes``."""

    confidence: Literal[90, 95, 99] = 95
    fdr: bool = Field(
        default=True,
        description="confidence after Benjamini-Hochberg FDR (false: the raw permutation p, "
        "for cities of few grids where FDR leaves none significant)",
    )
    dwell_minutes: float = Field(default=DEFAULT_DWELL_MINUTES, gt=0, le=240)
    categories: list[str] | None = Field(default=None, description="default: all categories")
    since: datetime | None = Field(default=None, description="reports at or after (default: all)")
    until: datetime | None = Field(default=None, description="reports before (default: all)")

    _times_as_text = field_validator("since", "until", mode="before")(_no_number)


class StaleGridsIn(_Strict):
    """Grids no GPS track has passed in the last ``days`` (before the plan's start), valued
    by the days since (a grid never patrolled counts as ``MAX_STALE_DAYS``)."""

    days: int = Field(default=7, ge=1, le=365, description="stale after this many days")
    dwell_minutes: float = Field(default=DEFAULT_STALE_DWELL_MINUTES, gt=0, le=240)


class PointStopIn(_Strict):
    """An explicit place to visit."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    label: str = Field(min_length=1, max_length=200)
    service_minutes: float | None = Field(default=None, ge=0, le=240)


def _codes_of(level: Level, codes: list[str] | None) -> list[str] | None:
    """``codes`` when each is a code of ``level`` (its digits, nothing else)."""
    digits = CODE_DIGITS[level]
    for code in codes or []:
        if not (len(code) == digits and code.isascii() and code.isdigit()):
            raise ValueError(f"{level} code {code!r} must be {digits} digits")
    return codes


@cache
def zone_names() -> frozenset[str]:
    """The IANA time zone names this system knows (the document lists them)."""
    return frozenset(available_timezones())


def _enum_of_strings(schema: dict[str, Any], values: list[str]) -> None:
    """Document a ``str | None`` field's strings as one of ``values``."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["enum"] = values


def _or_boolean(schema: dict[str, Any]) -> None:
    """Document that ``true`` (the defaults) and ``false`` (none) are taken too."""
    schema.setdefault("anyOf", []).append({"type": "boolean"})


class CareVisitsIn(_Strict):
    """Buildings with households whose care visit is overdue (or due within
    ``due_within_days``) at the plan's start; ``dwell_minutes`` per household to visit."""

    due_within_days: int = Field(
        default=0,
        ge=0,
        le=60,
        description="0: overdue only; N: also households whose deadline passes within N days",
    )
    dwell_minutes: float = Field(default=15.0, gt=0, le=120, description="per household")
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone whose calendar days count (default: GRIDPATROL_TIMEZONE)",
        json_schema_extra=lambda schema: _enum_of_strings(schema, sorted(zone_names())),
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in zone_names():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai")
        return value


class StopsIn(_Strict):
    """The kinds of stop to plan; at least one must be chosen."""

    open_reports: bool = False
    hot_grids: HotGridsIn | None = Field(default=None, json_schema_extra=_or_boolean)
    stale_grids: StaleGridsIn | None = Field(default=None, json_schema_extra=_or_boolean)
    # Documented; the stop loader names an unknown kind (422).
    facilities: list[Annotated[str, Field(json_schema_extra={"enum": list(FACILITY_KINDS)})]] = (
        Field(default_factory=list, description="facility kinds")
    )
    buildings: list[str] = Field(default_factory=list, description="building codes")
    points: list[PointStopIn] = Field(default_factory=list)
    care_visits: CareVisitsIn | None = Field(default=None, json_schema_extra=_or_boolean)
    districts: list[Annotated[str, Field(json_schema_extra={"pattern": "^[0-9]{6}$"})]] | None = (
        Field(
            default=None,
            description="open reports, hot grids and facilities lying in these districts "
            "(default: the patrollers' districts)",
        )
    )
    communities: (
        list[Annotated[str, Field(json_schema_extra={"pattern": "^[0-9]{12}$"})]] | None
    ) = Field(
        default=None,
        description="… and, if given, lying in these communities (e.g. one straddling districts)",
    )

    @field_validator("hot_grids", "stale_grids", "care_visits", mode="before")
    @classmethod
    def _grids_flag(cls, value: object) -> object:
        """``true`` means those grids with the default options."""
        if value is True:
            return {}
        if value is False:
            return None
        return value

    @field_validator("districts")
    @classmethod
    def _district_codes(cls, value: list[str] | None) -> list[str] | None:
        return _codes_of(Level.DISTRICT, value)

    @field_validator("communities")
    @classmethod
    def _community_codes(cls, value: list[str] | None) -> list[str] | None:
        return _codes_of(Level.COMMUNITY, value)

    @classmethod
    def kind_options(cls) -> tuple[str, ...]:
        """The fields choosing a kind of stop (every field but the scope); each is the
        ``option`` of one entry of ``gis.patrols.kinds.STOP_KINDS``."""
        return tuple(name for name in cls.model_fields if name not in _SCOPE_FIELDS)

    @model_validator(mode="after")
    def _at_least_one_kind(self) -> StopsIn:
        if not any(getattr(self, name) for name in self.kind_options()):
            *first, last = self.kind_options()
            raise ValueError(f"choose at least one kind of stop: {', '.join(first)} or {last}")
        if len(self.buildings) + len(self.points) > MAX_STOPS_LISTED:
            raise ValueError(f"at most {MAX_STOPS_LISTED} buildings and points may be listed")
        return self


_SCOPE_FIELDS = frozenset({"districts", "communities"})


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class PlanRequest(_Strict):
    """A patrol plan to solve (the "Patrols" contract)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "evening patrol",
                    "start_at": "2026-11-24T18:00:00+08:00",
                    "mode": "joint",
                    "objective": "balanced",
                    "compare": True,
                    "walk_speed_kmh": 4.5,
                    "service_minutes": 5,
                    "time_limit_s": 5,
                    "patrollers": [
                        {
                            "name": "Wang",
                            "worker": "W-990101001001001",
                            "start": {"lon": 104.05, "lat": 30.66},
                            "end": None,
                            "shift_minutes": 240,
                            "district": "990101",
                        }
                    ],
                    "stops": {
                        "open_reports": True,
                        "hot_grids": {"confidence": 95, "dwell_minutes": 12},
                        "facilities": ["checkpoint"],
                        "points": [
                            {
                                "lon": 104.06,
                                "lat": 30.66,
                                "label": "market gate",
                                "service_minutes": 10,
                            }
                        ],
                    },
                }
            ]
        },
    )

    name: str | None = Field(default=None, max_length=200)
    start_at: datetime = Field(
        default_factory=_now, description="ISO 8601 with offset; default: now"
    )
    mode: Mode = "joint"
    objective: Objective = Field(
        default="balanced",
        description="balanced: first the longest patroller's time away (start to end, on site "
        "included) as short as possible, then the team's total walk; shortest: the team's "
        "total walk only (one patroller may get every stop)",
    )
    compare: bool = False
    walk_speed_kmh: float = Field(default=4.5, ge=1, le=20)
    service_minutes: float = Field(default=5, ge=0, le=240)
    time_limit_s: float = Field(default=5, gt=0, le=600, description="solver budget per mode")
    max_snap_m: float = Field(
        default=DEFAULT_MAX_SNAP_M,
        gt=0,
        le=5000,
        description="furthest a stop or start may lie from its street (metres)",
    )
    seed: int = Field(default=0, ge=0, description="solver seed")
    patrollers: list[PatrollerIn] = Field(min_length=1, max_length=MAX_PATROLLERS)
    stops: StopsIn

    _start_as_text = field_validator("start_at", mode="before")(_no_number)

    def in_zone(self, zone: tzinfo) -> PlanRequest:
        """This request with its naive times (``start_at``, hot grids' window) read in ``zone``,
        the server's configured time zone; the API and the CLI call it before planning."""
        hot = self.stops.hot_grids
        stops = self.stops
        if hot is not None:
            hot = hot.model_copy(
                update={"since": in_zone(hot.since, zone), "until": in_zone(hot.until, zone)}
            )
            stops = stops.model_copy(update={"hot_grids": hot})
        care = stops.care_visits
        if care is not None and care.timezone is None:
            care = care.model_copy(update={"timezone": str(zone)})
            stops = stops.model_copy(update={"care_visits": care})
        return self.model_copy(update={"start_at": in_zone(self.start_at, zone), "stops": stops})

    @model_validator(mode="after")
    def _unique_names(self) -> PlanRequest:
        names = [p.name for p in self.patrollers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"patroller names must be unique; repeated: {', '.join(duplicated)}")
        return self

    @property
    def other_mode(self) -> Mode:
        return "by_district" if self.mode == "joint" else "joint"
