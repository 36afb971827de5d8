"""Walks to service stations on the hand-built street town, against networkx + pyproj: the
nearest station of each building, a building nearer to a station across the district border,
one on a street connected to nothing, walk areas with partial streets, and bad parameters."""

from __future__ import annotations

import math

import networkx as nx
import pytest
from shapely.geometry import Point, shape
from sqlalchemy import Engine

from gis.core.errors import InvalidInput
from gis.service_areas.areas import walk_areas
from gis.service_areas.gaps import find_gaps, nearest_walks
from gis.service_areas.walk import check_limit, load_walk_city
from tests.gis.service_areas.town import (
    BUILDINGS,
    M_PER_MIN,
    SPEED_KMH,
    STATIONS,
    build_town,
    reference_graph,
    reference_walks_m,
)
from tests.gis.streets import D1, D2, X0, Y0, to_metric

# The network moves two road ends by < 0.5 m onto their junctions; legs are UTM metres.
TOLERANCE_M = 1.0


@pytest.fixture
def town(empty_engine: Engine) -> Engine:
    build_town(empty_engine)
    return empty_engine


def test_nearest_station_walks_match_networkx(town: Engine) -> None:
    expected = reference_walks_m()
    with town.connect() as conn:
        city = load_walk_city(conn, check_limit(minutes=60, walk_speed_kmh=SPEED_KMH))
    walks = nearest_walks(city)
    for k, code in enumerate(city.buildings.codes):
        to_stations = expected[code]
        if not to_stations:
            assert math.isinf(walks.walk_m[k]) and walks.facility[k] == -1, code
            continue
        nearest = min(to_stations, key=lambda s: to_stations[s])
        assert walks.walk_m[k] == pytest.approx(to_stations[nearest], abs=TOLERANCE_M), code
        assert city.facilities.codes[walks.facility[k]] == nearest, code
    # The hand-made picture: B-BORDER (D1) walks 60 + 200 + 200 + 50 + 10 m to S-EAST (D2),
    # much less than the 1,325 m to S-WEST in its own district.
    assert expected["B-BORDER"]["S-EAST"] == pytest.approx(520, abs=1)
    assert expected["B-BORDER"]["S-WEST"] == pytest.approx(1325, abs=1)
    assert expected["B-FRAGMENT"] == {}


def test_gaps_list_buildings_beyond_the_limit_and_across_the_border(town: Engine) -> None:
    expected = reference_walks_m()
    minutes = 10.0  # 750 m at 4.5 km/h: B-FAR (~990 m) is beyond, B-FRAGMENT not connected
    with town.connect() as conn:
        gaps = find_gaps(conn, minutes=minutes, walk_speed_kmh=SPEED_KMH)
    limit_m = minutes * M_PER_MIN
    nearest = {code: min(w.values()) if w else None for code, w in expected.items()}
    beyond = {c for c, m in nearest.items() if m is None or m > limit_m}
    assert beyond == {"B-FAR", "B-FRAGMENT"}
    assert {g.code for g in gaps.gaps} == beyond
    # Not connected first (farthest of all), walk minutes null.
    assert gaps.gaps[0].code == "B-FRAGMENT" and gaps.gaps[0].walk_minutes is None
    assert gaps.gaps[0].nearest_facility is None
    far, far_m = gaps.gaps[1], nearest["B-FAR"]
    assert far_m is not None
    assert far.walk_minutes == pytest.approx(far_m / M_PER_MIN, abs=0.02)
    assert far.nearest_facility == "S-EAST" and far.district_code == D2
    assert gaps.not_connected_buildings == 1
    assert gaps.beyond_buildings == 2
    assert gaps.beyond_residents == BUILDINGS["B-FAR"][1] + BUILDINGS["B-FRAGMENT"][1]
    # Served across the border: B-BORDER lies in D1, its nearest station in D2.
    (across,) = gaps.across_border
    assert across.code == "B-BORDER" and across.within_limit
    assert (across.district_code, across.nearest_facility_district) == (D1, D2)
    assert across.walk_minutes == pytest.approx(
        expected["B-BORDER"]["S-EAST"] / M_PER_MIN, abs=0.02
    )
    totals = {u.code: u for u in gaps.by_district}
    assert totals[D1].buildings == 3 and totals[D1].beyond_buildings == 1
    assert totals[D1].not_connected_buildings == 1 and totals[D1].across_border_buildings == 1
    assert totals[D2].beyond_buildings == 1 and totals[D2].beyond_residents == 80
    assert sum(u.buildings for u in gaps.by_community) == len(BUILDINGS)


def test_no_station_of_the_kind_leaves_every_building_beyond(town: Engine) -> None:
    with town.connect() as conn:
        gaps = find_gaps(conn, kind="hydrant")
    assert gaps.facilities == 0 and gaps.beyond_buildings == len(BUILDINGS)
    assert all(g.walk_minutes is None for g in gaps.gaps)


def test_walk_area_holds_the_reached_streets_partly_and_not_the_hull(town: Engine) -> None:
    minutes = 8.0  # 600 m
    budget = minutes * M_PER_MIN
    with town.connect() as conn:
        areas = {a.code: a for a in walk_areas(conn, minutes=minutes, walk_speed_kmh=SPEED_KMH)}
    east = areas["S-EAST"]
    assert east.geometry is not None and east.district_code == D2
    polygon = to_metric(shape(east.geometry))
    graph = reference_graph({"S-EAST": STATIONS["S-EAST"]})
    reach = nx.single_source_dijkstra_path_length(graph, "S-EAST")
    on_n1100 = reach[(1100.0, 900.0)]  # north end of N1100: 10 + 450 m
    assert on_n1100 < budget
    # Partial streets: along the main street east of N1100 the walk reaches x = 1100 + left.
    left_at_junction = budget - reach[(1100.0, 500.0)]
    inside = (1100 + left_at_junction - 15, 500)
    outside = (1100 + left_at_junction + 40, 500)
    assert polygon.contains(Point(*shift(inside)))
    assert not polygon.contains(Point(*shift(outside)))
    # Not a convex hull: between N1100 and the end of the main street's reach, away from the
    # streets, nothing is reached.
    assert not polygon.contains(Point(*shift((1300, 750))))
    # Served buildings: B-BORDER (520 m) is, B-FAR (990 m) is not.
    assert east.buildings == 1 and east.residents == BUILDINGS["B-BORDER"][1]


def shift(xy: tuple[float, float]) -> tuple[float, float]:
    """Town offsets to the town's UTM metres (what ``to_metric`` returns)."""
    return xy[0] + X0, xy[1] + Y0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"kind": "tower"}, "unknown facility kind 'tower'"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": 500}, "minutes"),
        ({"minutes": float("nan")}, "minutes"),
        ({"walk_speed_kmh": 0.2}, "walk_speed_kmh"),
        ({"walk_speed_kmh": 60}, "walk_speed_kmh"),
    ],
)
def test_bad_parameters_are_named(town: Engine, options: dict[str, object], named: str) -> None:
    with town.connect() as conn, pytest.raises(InvalidInput, match=named):
        find_gaps(conn, **options)  # type: ignore[arg-type]
