"""The stop kinds a plan can visit: ONE registry, read by everything that needs a kind.

Each entry says which request option chooses the kind (a field of ``StopsIn``), how its stops
are gathered, what a served stop is worth (a weight on the stop's own score), its label on
the map, and how long a patroller stays. The request's "choose at least one kind" check, the
solver input (values, dwell), storage (the ``patrol_stops.kind`` check constraint) and the map
legend all read it; adding a kind is an entry here, its gatherer and a migration widening the
check constraint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gis.patrols.request import PlanRequest
from gis.patrols.stops import (
    GatherContext,
    Stop,
    StopKind,
    building_stops,
    care_visit_stops,
    facility_stops,
    hot_grid_stops,
    locate_stops,
    open_report_stops,
    point_stops,
    stale_grid_stops,
)

# (context, the request's option for the kind, minutes on site) -> the kind's stops.
Gatherer = Callable[[GatherContext, Any, float], list[Stop]]


def _request_service_minutes(request: PlanRequest, option: Any) -> float:
    return request.service_minutes


def _option_dwell(request: PlanRequest, option: Any) -> float:
    return float(option.dwell_minutes)


@dataclass(frozen=True)
class KindSpec:
    """One stop kind: request option, gatherer, weight, label and time on site."""

    kind: StopKind
    # The field of ``StopsIn`` choosing it (falsy: not chosen).
    option: str
    gather: Gatherer
    # What a served stop is worth relative to other kinds: multiplies the stop's own score
    # (1 for kinds of one worth, a hot grid's Gi* z). Required kinds ignore it.
    weight: float
    # The map's label (Chinese first, as the field says it, then English).
    label: str
    # Minutes on site: the request's ``service_minutes`` or the option's own dwell time.
    dwell: Callable[[PlanRequest, Any], float]


STOP_KINDS: dict[StopKind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            StopKind.REPORT,
            option="open_reports",
            gather=open_report_stops,
            weight=1.0,
            label="诉求 report",
            dwell=_request_service_minutes,
        ),
        KindSpec(
            StopKind.HOT_GRID,
            option="hot_grids",
            gather=hot_grid_stops,
            weight=1.0,
            label="热点网格 hot grid",
            dwell=_option_dwell,
        ),
        # A care visit or a point someone named outranks a routine facility check.
        KindSpec(
            StopKind.FACILITY,
            option="facilities",
            gather=facility_stops,
            weight=1.0,
            label="部件 facility",
            dwell=_request_service_minutes,
        ),
        KindSpec(
            StopKind.BUILDING,
            option="buildings",
            gather=building_stops,
            weight=3.0,
            label="楼栋 building",
            dwell=_request_service_minutes,
        ),
        KindSpec(
            StopKind.POINT,
            option="points",
            gather=point_stops,
            weight=3.0,
            label="地点 point",
            dwell=_request_service_minutes,
        ),
        # Valued by days since a track last passed: a week stale is worth a facility check
        # and a bit, a grid never patrolled (30 days) about two named points.
        KindSpec(
            StopKind.STALE_GRID,
            option="stale_grids",
            gather=stale_grid_stops,
            weight=0.2,
            label="久未巡查网格 stale grid",
            dwell=_option_dwell,
        ),
        # Worth a listed building per household, more the longer overdue; a dwell per
        # household (the gatherer multiplies the option's dwell by the households to visit).
        KindSpec(
            StopKind.CARE_VISIT,
            option="care_visits",
            gather=care_visit_stops,
            weight=3.0,
            label="家访 care visit",
            dwell=_option_dwell,
        ),
    )
}
KIND_CODES: tuple[str, ...] = tuple(kind.value for kind in STOP_KINDS)
KIND_LABELS: dict[str, str] = {kind.value: spec.label for kind, spec in STOP_KINDS.items()}


def gather_stops(ctx: GatherContext) -> list[Stop]:
    """Every stop the request chooses, kind by kind in registry order, valued by the kind's
    weight and located in grids and districts."""
    stops: list[Stop] = []
    for spec in STOP_KINDS.values():
        option = getattr(ctx.request.stops, spec.option)
        if not option:
            continue
        found = spec.gather(ctx, option, spec.dwell(ctx.request, option))
        stops += [replace(s, value=s.value * spec.weight) for s in found]
    return locate_stops(ctx.conn, stops)
