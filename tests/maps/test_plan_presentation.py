"""How the plan map presents a plan: it opens on the routes, sets stops at one place apart, and
its header says what the plan achieved."""

from __future__ import annotations

from typing import Any

from maps.patrols import _achieved, _bounds, _declutter


def _stop(seq: int, lon: float, lat: float, *, late: bool = False) -> dict[str, Any]:
    return {"seq": seq, "lon": lon, "lat": lat, "late": late}


def _plan() -> dict[str, Any]:
    start = {"lon": 104.05, "lat": 30.66}
    stops = [
        _stop(1, 104.051, 30.661),
        _stop(2, 104.051, 30.661),  # the same place as 1
        _stop(3, 104.05101, 30.66101, late=True),  # ~1.5 m away: the same place too
        _stop(4, 104.055, 30.664),
    ]
    route = {"start": start, "end": start, "stops": stops, "geometry": None}
    far = {"lon": 104.2, "lat": 30.9, "required": True}
    return {
        "routes": [route],
        "unserved": [far, {"lon": 104.06, "lat": 30.67, "required": False}],
        "total_length_m": 2345.0,
        "comparison": {"saved_m": -120.0, "saved_pct": -5.1, "stops_gained": 2},
    }


def test_stops_at_one_place_are_set_apart_and_others_stay() -> None:
    plan = _plan()
    shifts = _declutter(plan)
    stops = plan["routes"][0]["stops"]
    offsets = [shifts.get(id(s)) for s in stops]
    assert offsets[3] is None
    placed = offsets[:3]
    assert all(o is not None for o in placed) and len(set(placed)) == 3
    assert all(10 <= (o[0] ** 2 + o[1] ** 2) ** 0.5 <= 16 for o in placed if o)


def test_the_map_opens_on_the_routes_not_on_far_unserved_stops() -> None:
    minx, miny, maxx, maxy = _bounds([_plan()]) or (0, 0, 0, 0)
    assert minx < 104.05 and maxx > 104.055 and maxx < 104.06 and maxy < 30.67


def test_the_header_says_what_was_achieved() -> None:
    line = _achieved(_plan())
    assert "4 stops served (1 late)" in line
    assert "2 unserved (1 required)" in line
    assert "2.3 km walked" in line
    assert "120 m longer (5.1 %), +2 stops" in line
