"""Cross-district coverage: shares and enclave parts against shapely in metres."""

from __future__ import annotations

import geopandas as gpd
import pytest
from sqlalchemy import Engine

from data import DEMO_DIR
from data.generate import METRIC_CRS
from gis.city import demo_manifest
from gis.territory.coverage import find_cross_district_coverage
from tests.gis import handbuilt as town


def close(actual: float, expected: float, rel: float = 0.005) -> bool:
    return abs(actual - expected) <= rel * abs(expected)


def test_community_in_two_districts(empty_engine: Engine) -> None:
    town.build_town(empty_engine)
    with empty_engine.connect() as conn:
        coverage = find_cross_district_coverage(conn)
    (unit,) = coverage.communities
    assert unit.code == town.B
    community = town.metric(town.B)
    by_district = {d.district_code: d for d in unit.districts}
    assert set(by_district) == {town.D1, town.D2}
    for code in (town.D1, town.D2):
        expected = community.intersection(town.metric(code)).area
        assert close(by_district[code].area_m2, expected)
        assert close(by_district[code].share, expected / community.area)
    assert by_district[town.D1].own and not by_district[town.D2].own
    (enclave,) = unit.enclave_parts
    assert enclave.district_code == town.D2
    assert close(enclave.area_m2, community.intersection(town.metric(town.D2)).area)
    assert (enclave.buildings, enclave.residents) == (1, town.BUILDINGS["ENCLAVE"][1])
    # H1 reaches 20 m over the border at x = 1000; H2 lies wholly in D2.
    assert [g.code for g in coverage.grids] == [town.H1]


@pytest.fixture(scope="module")
def demo_frames() -> dict[str, gpd.GeoDataFrame]:
    return {
        layer: gpd.read_file(DEMO_DIR / f"{layer}.geojson").to_crs(METRIC_CRS).set_index("code")
        for layer in ("districts", "communities")
    }


def test_straddling_community_shows_three_districts_summing_to_one(
    shared_demo_engine: Engine, demo_frames: dict[str, gpd.GeoDataFrame]
) -> None:
    straddler = demo_manifest()["straddling_community"]
    with shared_demo_engine.connect() as conn:
        coverage = find_cross_district_coverage(conn)
    (unit,) = [u for u in coverage.communities if u.code == straddler]
    assert len(unit.districts) == 3
    assert abs(sum(d.share for d in unit.districts) - 1.0) < 0.001
    community = demo_frames["communities"].geometry[straddler]
    for part in unit.districts:
        expected = community.intersection(demo_frames["districts"].geometry[part.district_code])
        assert close(part.area_m2, expected.area)
    # The parts outside its own district: some near the junction, plus the exclave in B.
    assert {p.district_code for p in unit.enclave_parts} == {
        d.district_code for d in unit.districts if not d.own
    }
    assert len(unit.enclave_parts) >= 3
    assert sum(p.buildings for p in unit.enclave_parts) == sum(
        d.buildings for d in unit.districts if not d.own
    )
