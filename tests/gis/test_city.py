"""The committed demo city loads, matches its generator, and reloads without duplicates."""

from __future__ import annotations

from datetime import timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import Engine, text

from data import DEMO_DIR
from data.generate import generate_city
from gis.city import demo_manifest, load_city
from tests.conftest import CATEGORIES, DEMO_LOADED_AT, count_features, demo_time


def test_demo_counts_match_the_generator_manifest(shared_demo_engine: Engine) -> None:
    manifest = demo_manifest()
    with shared_demo_engine.connect() as conn:
        assert count_features(conn) == manifest["counts"]
        residents = conn.execute(text("SELECT sum(residents) FROM buildings")).scalar_one()
    assert residents == manifest["residents"]


def test_demo_report_history_is_loaded_and_located(shared_demo_engine: Engine) -> None:
    history = demo_manifest()["report_history"]
    with shared_demo_engine.connect() as conn:
        stored, in_grid, first, last = conn.execute(
            text(
                "SELECT count(*), count(grid_code), min(reported_at), max(reported_at) FROM reports"
            )
        ).one()
    assert stored == history["reports"] >= 20_000
    assert in_grid >= 0.95 * stored
    assert (last - first).days >= 360
    kinds = {c["kind"] for c in history["clusters"]}
    assert kinds == {"market", "old_compound", "transport_hub"}


def test_a_loaded_city_has_planner_statistics(shared_demo_engine: Engine) -> None:
    """Loading ends with ANALYZE: a query right after it is planned on real row counts, not
    on the guesses for a table never analysed (which made nested loops over whole tables)."""
    tables = ("buildings", "households", "household_visits", "reports", "grids")
    with shared_demo_engine.connect() as conn:
        analysed = conn.execute(
            text(
                "SELECT tablename FROM pg_stats WHERE schemaname = 'public' "
                "AND tablename = ANY(:tables) GROUP BY tablename"
            ),
            {"tables": list(tables)},
        ).scalars()
        assert set(analysed) == set(tables)


def test_demo_meets_the_size_the_product_needs() -> None:
    counts = demo_manifest()["counts"]
    assert counts["districts"] == 3
    assert counts["subdistricts"] >= 6
    assert counts["communities"] >= 12
    assert counts["grids"] >= 60
    assert counts["buildings"] >= 3000
    assert sum(p.stat().st_size for p in DEMO_DIR.iterdir()) < 10 * 1024 * 1024


def test_committed_demo_is_what_the_generator_makes() -> None:
    city = generate_city()
    assert city["manifest"] == demo_manifest()
    committed = gpd.read_file(DEMO_DIR / "grids.geojson")
    assert list(committed["code"]) == list(city["grids"]["code"])
    committed_reports = pd.read_csv(DEMO_DIR / "reports.csv", dtype=str, keep_default_na=False)
    generated = pd.DataFrame(city["reports"]).astype(str).replace("nan", "")
    assert committed_reports.equals(generated.astype(str))


def test_reloading_the_demo_duplicates_nothing(demo_engine: Engine) -> None:
    results = load_city(demo_engine, categories=CATEGORIES, now=DEMO_LOADED_AT)
    assert all(r.inserted == 0 and r.updated == 0 for r in results)
    # A day later the history moves a day on: every report is updated, none is added.
    later = load_city(demo_engine, categories=CATEGORIES, now=DEMO_LOADED_AT + timedelta(days=1))
    reports = demo_manifest()["report_history"]["reports"]
    assert [(r.layer, r.inserted, r.updated) for r in later if r.updated] == [
        ("reports", 0, reports)
    ]
    with demo_engine.connect() as conn:
        assert count_features(conn) == demo_manifest()["counts"]
        assert conn.execute(text("SELECT count(*) FROM reports")).scalar_one() == reports
        newest = conn.execute(text("SELECT max(reported_at) FROM reports")).scalar_one()
    assert newest == demo_time(pd.read_csv(DEMO_DIR / "reports.csv")["reported_at"].max()) + (
        timedelta(days=1)
    )


def test_roads_form_one_connected_network() -> None:
    roads = gpd.read_file(DEMO_DIR / "roads.geojson")
    coords = shapely.get_coordinates(roads.geometry.values).round(8).reshape(-1, 2, 2)
    nodes, inverse = np.unique(coords.reshape(-1, 2), axis=0, return_inverse=True)
    edges = inverse.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(nodes),) * 2)
    n_components, _ = connected_components(graph, directed=False)
    assert n_components == 1
