"""Topology validation finds every hand-planted problem with the area shapely measures."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from data import DEMO_DIR
from data.generate import METRIC_CRS
from gis.territory.repair import repair_geometries
from gis.territory.topology import validate_topology
from tests.conftest import THRESHOLDS
from tests.gis import handbuilt as town


def close(actual: float, expected: float, rel: float = 0.005) -> bool:
    return abs(actual - expected) <= rel * abs(expected)


@pytest.fixture
def town_engine(empty_engine: Engine) -> Engine:
    town.build_town(empty_engine)
    return empty_engine


def test_handbuilt_problems_are_found_with_metric_areas(town_engine: Engine) -> None:
    with town_engine.connect() as conn:
        report = validate_topology(conn, **THRESHOLDS)

    gaps_a = [g for g in report.gaps if g.community_code == town.A]
    assert len(gaps_a) == 1
    assert close(gaps_a[0].area_m2, town.GAP_TRIANGLE.area)

    (overlap,) = [o for o in report.overlaps if o.grid_codes == (town.H1, town.H2)]
    expected = town.metric(town.H1).intersection(town.metric(town.H2)).area
    assert close(overlap.area_m2, expected)
    assert overlap.community_codes == (town.B, town.B)

    (invalid,) = report.invalid_geometries
    assert (invalid.layer, invalid.code) == ("grids", town.BOWTIE)
    assert "Self-intersection" in invalid.reason

    (split,) = report.split_buildings
    assert split.code == "SPLIT"
    building = town.metric("SPLIT")
    for grid in (town.G1, town.G2):
        expected_share = building.intersection(town.metric(grid)).area / building.area
        assert close(split.shares[grid], expected_share)
    assert [b.code for b in report.unassigned_buildings] == ["NOWHERE"]
    assert report.outside_community == [] and report.code_problems == []
    assert not report.ok


def test_sliver_below_tolerance_is_reported_apart(town_engine: Engine) -> None:
    gap_m2 = town.GAP_TRIANGLE.area  # 2500 m²
    with town_engine.connect() as conn:
        report = validate_topology(
            conn, sliver_area_m2=gap_m2 * 2, split_share=THRESHOLDS["split_share"]
        )
    assert town.A in {s.community_code for s in report.slivers}
    assert town.A not in {g.community_code for g in report.gaps}


def test_grid_outside_its_community_and_code_prefix(town_engine: Engine) -> None:
    # Move G1 into community C: it now lies outside A, inside C, overlapping the bow-tie grid.
    with town_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE grids SET geom = ST_Multi(ST_Translate(geom, 0, "
                "(SELECT ST_YMax(geom) - ST_YMin(geom) FROM grids WHERE code = :g))) "
                "WHERE code = :g"
            ),
            {"g": town.G1},
        )
        report = validate_topology(conn, **THRESHOLDS)
    (outside,) = report.outside_community
    assert outside.grid_code == town.G1 and outside.into_community_codes == [town.C]
    assert close(outside.area_m2, town.metric(town.G1).area)
    assert any(p.code == town.G1 and "lies outside" in p.problem for p in report.code_problems)
    assert any(set(o.community_codes) == {town.A, town.C} for o in report.overlaps)


def test_serial_000_code_is_malformed(town_engine: Engine) -> None:
    with town_engine.begin() as conn:
        conn.execute(
            text("UPDATE grids SET code = :new WHERE code = :old"),
            {"new": town.B + "000", "old": town.H1},
        )
        report = validate_topology(conn, **THRESHOLDS)
    assert [(p.code, "serial 000" in p.problem) for p in report.code_problems] == [
        (town.B + "000", True)
    ]


def test_repair_is_explicit_and_fixes_the_bow_tie(town_engine: Engine) -> None:
    with town_engine.begin() as conn:
        repaired = repair_geometries(conn, layers=["grids"])
        assert [r.code for r in repaired] == [town.BOWTIE]
        report = validate_topology(conn, **THRESHOLDS)
    assert report.invalid_geometries == []
    # make_valid keeps both triangles of the bow-tie.
    assert close(repaired[0].area_after_m2, shapely.make_valid(town.metric(town.BOWTIE)).area)


def _demo_frame(layer: str) -> gpd.GeoDataFrame:
    return gpd.read_file(DEMO_DIR / f"{layer}.geojson").to_crs(METRIC_CRS)


def test_demo_city_reports_exactly_the_planted_problems(shared_demo_engine: Engine) -> None:
    planted: dict[str, Any] = json.loads((DEMO_DIR / "planted.json").read_text())
    with shared_demo_engine.connect() as conn:
        report = validate_topology(conn, **THRESHOLDS)
    grids = _demo_frame("grids").set_index("code")
    communities = _demo_frame("communities").set_index("code")

    def gap_area(community: str) -> float:
        own = grids[grids.index.str.startswith(community)].geometry.union_all()
        return float(communities.geometry[community].difference(own).area)

    assert [g.community_code for g in report.gaps] == [p["community"] for p in planted["gaps"]]
    assert close(report.gaps[0].area_m2, gap_area(planted["gaps"][0]["community"]))
    assert [s.community_code for s in report.slivers] == [
        p["community"] for p in planted["slivers"]
    ]
    assert close(report.slivers[0].area_m2, gap_area(planted["slivers"][0]["community"]))
    assert [list(o.grid_codes) for o in report.overlaps] == [
        sorted(p["grids"]) for p in planted["overlaps"]
    ]
    a, b = planted["overlaps"][0]["grids"]
    expected = grids.geometry[a].intersection(grids.geometry[b]).area
    assert close(report.overlaps[0].area_m2, expected)
    assert [b.code for b in report.split_buildings] == planted["split_buildings"]
    assert [b.code for b in report.unassigned_buildings] == planted["unassigned_buildings"]
    assert report.outside_community == []
    assert report.invalid_geometries == []
    assert report.code_problems == []


def test_report_json_is_serialisable(shared_demo_engine: Engine) -> None:
    with shared_demo_engine.connect() as conn:
        body = validate_topology(conn, **THRESHOLDS).to_dict()
    text_ = json.dumps(body)
    assert body["counts"]["gaps"] == 1 and body["problem_count"] == 4
    assert shape(body["overlaps"][0]["geometry"]).area > 0 and "sliver_area_m2" in text_
    gap = shapely.from_geojson(json.dumps(body["gaps"][0]["geometry"]))
    assert gap.geom_type == "Polygon" and gap.is_valid and not gap.is_empty
    # The JSON geometry is the gap itself: its area (m², UTM 48N) is the one reported.
    metric = gpd.GeoSeries([gap], crs=4326).to_crs(METRIC_CRS).iloc[0]
    assert close(metric.area, body["gaps"][0]["area_m2"])
    assert body["counts"] == {name: len(body[name]) for name in body["counts"]}
