"""The patrol map on the demo city renders offline in Chromium, and the stored routes follow
the streets (checked from the geometry: every vertex lies on a road edge)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import Engine, text

from api.main import create_app
from gis.patrols.service import create_patrol_plan
from gis.patrols.storage import get_plan
from maps.pages import grids_page, patrols_page
from tests.accounts import PASSWORD, account_headers
from tests.browser import load_page, sign_in_cookie
from tests.conftest import CATEGORIES, settings_for
from tests.gis.patrols.test_demo_patrols import straddling_request
from tests.maps.conftest import serve

pytestmark = pytest.mark.browser
_TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
COUNT = {
    "arrows": ".gp-arrow",
    "stops": ".gp-stop",
    "starts": ".gp-start",
    "routes": "path.gp-route",
    "unserved": "path.gp-unserved",
}


def _utm(geom: Any) -> Any:
    def project(coords: Any) -> Any:
        x, y = _TO_UTM.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, project)


@pytest.fixture(scope="module")
def stored(pg_server: Any, templates: dict[str, str]) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """A demo database of this module's own with the 三河社区 plan (compared) stored, plus an
    unreachable point so the map has an unserved stop."""
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        with engine.connect() as conn:
            request = straddling_request(conn, mode="joint", compare=True)
        body = request.model_dump(mode="json")
        body["stops"]["points"] = [{"lon": 104.2, "lat": 30.8, "label": "far away"}]
        plan = create_patrol_plan(engine, type(request).model_validate(body), categories=CATEGORIES)
        yield engine, plan.model_dump(mode="json")


def test_routes_follow_the_streets(stored: tuple[Engine, dict[str, Any]]) -> None:
    engine, plan = stored
    with engine.connect() as conn:
        edges = conn.execute(text("SELECT ST_AsBinary(geom) FROM routing_edges")).scalars().all()
        roads = conn.execute(text("SELECT ST_AsBinary(geom) FROM roads")).scalars().all()
        alternative = get_plan(conn, plan["alternative"]["id"]).model_dump(mode="json")
    network = _utm(shapely.union_all(shapely.from_wkb([bytes(e) for e in edges])))
    streets = _utm(shapely.union_all(shapely.from_wkb([bytes(r) for r in roads])))
    checked = 0
    for route in plan["routes"] + alternative["routes"]:
        if route["geometry"] is None:
            continue
        line = _utm(shape(route["geometry"]))
        vertices = shapely.points(np.asarray(line.coords))
        # GeoJSON keeps 7 decimals (~1 cm); the demo's streets are already noded (no snapping).
        assert np.max(shapely.distance(vertices, network)) < 0.05
        assert np.max(shapely.distance(vertices, streets)) < 0.05
        # And it never cuts a corner: the segments' midpoints lie on streets too.
        coords = np.asarray(line.coords)
        middles = shapely.points((coords[1:] + coords[:-1]) / 2)
        assert np.max(shapely.distance(middles, streets)) < 0.05
        checked += 1
    assert checked >= 2


def test_patrol_map_renders_offline(stored: tuple[Engine, dict[str, Any]], tmp_path: Path) -> None:
    engine, plan = stored
    from maps import assets

    with engine.connect() as conn:
        fmap = patrols_page(conn, settings_for(engine), plan_id=plan["id"])
    path = tmp_path / "patrols.html"
    path.write_text(assets.render(fmap, mode="standalone"), encoding="utf-8")
    report = load_page(path.as_uri(), wait_ms=1500, count=COUNT)
    assert report.errors == []
    assert report.blocked == []
    drawn = [r for r in plan["routes"] if r["geometry"] is not None]
    # The plan's layer is shown; the compared mode's layer is toggled off.
    assert report.counts["routes"] == len(drawn)
    assert report.counts["arrows"] >= len(drawn)
    assert report.counts["stops"] == plan["served"]
    assert report.counts["starts"] == len(plan["routes"])
    assert report.counts["unserved"] == len(plan["unserved"]) == 1
    assert report.counts["controls"] == 1 and report.counts["legend"] == 1


def test_patrol_map_is_served(stored: tuple[Engine, dict[str, Any]]) -> None:
    """A dispatcher signs in (the browser keeps the session cookie) and opens the plan's page;
    without signing in the page is refused."""
    engine, plan = stored
    account_headers(engine, "map-dispatcher", "dispatcher", scope="990101")
    app = create_app(settings_for(engine), engine=engine)
    url_path = f"/maps/patrols?id={plan['alternative']['id']}"
    with serve(app) as base:
        assert httpx2.get(base + url_path, timeout=30).status_code == 401
        cookie = sign_in_cookie(base, "map-dispatcher", PASSWORD)
        report = load_page(base + url_path, wait_ms=1500, count=COUNT, cookies=[cookie])
    assert report.errors == [] and report.blocked == []
    assert report.counts["routes"] >= 1 and report.counts["arrows"] >= 1


def test_grids_map_colours_grids_by_patrol_staleness(
    stored: tuple[Engine, dict[str, Any]], tmp_path: Path
) -> None:
    engine, _ = stored
    from maps import assets

    with engine.connect() as conn:
        fmap = grids_page(
            conn, settings_for(engine), problems=False, reports=False, patrol_coverage=True
        )
    html = assets.render(fmap, mode="standalone")
    assert "patrol coverage" in html and "#d7191c" in html
    path = tmp_path / "grids.html"
    path.write_text(html, encoding="utf-8")
    report = load_page(path.as_uri(), wait_ms=1000)
    assert report.errors == [] and report.blocked == []
    with engine.connect() as conn:
        grids = int(conn.execute(text("SELECT count(*) FROM grids")).scalar_one())
    # Districts + communities + grids + the coverage layer's grids.
    assert report.counts["paths"] >= 2 * grids


def test_served_grids_map_colours_tiled_grids_by_patrol_staleness(
    stored: tuple[Engine, dict[str, Any]],
) -> None:
    """On tiles the coverage overlay is a second styled ``grids`` tile layer: the page carries
    only the patrolled grids' codes, and every grid is drawn by both layers."""
    engine, _ = stored
    with engine.connect() as conn:
        grids = int(conn.execute(text("SELECT count(*) FROM grids")).scalar_one())
    account_headers(engine, "map-analyst", "analyst")
    app = create_app(settings_for(engine), engine=engine)
    with serve(app) as base:
        anonymous = httpx2.get(f"{base}/maps/grids?patrol_coverage=true", timeout=60)
        assert anonymous.status_code == 401
        cookie = sign_in_cookie(base, "map-analyst", PASSWORD)
        report = load_page(
            f"{base}/maps/grids?patrol_coverage=true&problems=false&reports=false",
            wait_until="networkidle",
            cookies=[cookie],
            # Leaflet's default blue: a tile feature drawn without a style of ours.
            count={"unstyled": 'path[stroke="#3388ff"]'},
        )
    assert report.errors == [] and report.blocked == []
    assert all(status in (200, 204) for status, _ in report.responses)
    # The base grid layer and the coverage layer both draw every grid of the view.
    assert report.vector["grids"]["features"] >= 2 * grids
    assert report.counts["unstyled"] == 0
