"""Building → grid assignment: largest share, re-run after imports, idempotent."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import box
from sqlalchemy import Engine, text

from gis.territory.assignment import (
    assign_buildings,
    find_split_buildings,
    find_unassigned_buildings,
)
from gis.territory.importing import import_frame
from tests.gis import handbuilt as town


def _assigned(engine: Engine) -> dict[str, tuple[str | None, float]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, grid_code, grid_share FROM buildings"))
        return {r[0]: (r[1], round(float(r[2]), 4)) for r in rows}


def test_largest_share_wins_and_a_rerun_changes_nothing(empty_engine: Engine) -> None:
    town.build_town(empty_engine)
    assigned = _assigned(empty_engine)
    assert assigned["INSIDE"] == (town.G1, 1.0)
    assert assigned["ENCLAVE"] == (town.H2, 1.0)
    assert assigned["NOWHERE"] == (None, 0.0)
    assert assigned["SPLIT"][1] == 0.5  # a tie: the lower code wins
    assert assigned["SPLIT"][0] == town.G1
    with empty_engine.begin() as conn:
        assert assign_buildings(conn) == 0


def test_grid_import_reassigns_buildings(empty_engine: Engine) -> None:
    town.build_town(empty_engine)
    # Move the G1|G2 border to x = 310 m: the split building is now 75 % in G1.
    moved = gpd.GeoDataFrame(
        {"code": [town.G1, town.G2], "name": ["网格一", "网格二"]},
        geometry=[
            town.to_wgs84(box(0, 0, 310, 400)),
            town.to_wgs84(box(310, 0, 600, 400).difference(town.GAP_TRIANGLE)),
        ],
        crs=4326,
    )
    with empty_engine.begin() as conn:
        import_frame(conn, moved, layer="grids")
        (split,) = find_split_buildings(conn, min_share=0.9)
        assert [b.code for b in find_unassigned_buildings(conn)] == ["NOWHERE"]
    building = town.metric("SPLIT")
    expected = building.intersection(box(0, 0, 310, 400)).area / building.area
    assert split.grid_code == town.G1 and abs(split.share - expected) < 0.005 * expected
    assert set(split.shares) == {town.G1, town.G2}
