"""Reports far outside every district (issue 22, item 1), against a real server: refused at
intake naming the distance; a stored one (from before) breaks no analysis; an admin marks a
report invalid, which takes it out of every analysis without deleting it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from pyproj import Geod
from sqlalchemy import Engine, text

from api.main import create_app
from gis.analysis.hotspots import report_heat_points
from tests.accounts import account_headers
from tests.conftest import CATEGORIES, settings_for
from tests.endpoints import INLAND
from tests.maps.conftest import serve

FAR = {"lat": 0.0, "lon": 10.0}
REPORT = {**INLAND, "category": "sanitation", "description": "bins"}
FAST: dict[str, str | int] = {"unit": "grid", "permutations": 99}


@pytest.fixture
def served(demo_engine: Engine) -> Iterator[tuple[str, Engine]]:
    with serve(create_app(settings_for(demo_engine), engine=demo_engine)) as url:
        yield url, demo_engine


def _extent(engine: Engine) -> tuple[float, float, float, float]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom)::geometry AS e FROM districts) s"
            )
        ).one()
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])


def test_a_report_far_from_every_district_is_refused_naming_the_distance(
    served: tuple[str, Engine],
) -> None:
    base, engine = served
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM reports")).scalar_one()
    response = httpx2.post(base + "/reports", json={**REPORT, **FAR}, timeout=30)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    # Independent distance: from the point to the nearest corner region of the districts is
    # at least the geodesic distance to the extent's nearest corner minus its diagonal.
    xmin, ymin, xmax, ymax = _extent(engine)
    geod = Geod(ellps="WGS84")
    corner_km = geod.inv(FAR["lon"], FAR["lat"], xmin, ymin)[2] / 1000
    named_km = float(detail.split(" km from the nearest district")[0].split()[-1].replace(",", ""))
    assert abs(named_km - corner_km) < 100  # thousands of km away, named to the kilometre
    assert "lat/lon" in detail and "swapped" in detail
    open311 = httpx2.post(
        base + "/open311/v2/requests.json",
        data={"service_code": "sanitation", "lat": "0", "long": "10", "description": "x"},
        timeout=30,
    )
    assert open311.status_code == 400 and "km from the nearest district" in open311.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports")).scalar_one() == before
    # Just outside the city (about 2 km east of the districts): kept, unlocated.
    near = httpx2.post(
        base + "/reports", json={**REPORT, "lat": (ymin + ymax) / 2, "lon": xmax + 0.02}
    )
    assert near.status_code == 201 and near.json()["located"] is False


def _plant_far_report(engine: Engine) -> None:
    """A far report as intake stored it before the distance check (a legacy row)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reports (category, description, status, reported_at, updated_at, "
                "located, geom) VALUES ('sanitation', 'far away', 'reported', "
                "now() - interval '1 day', now(), false, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            FAR,
        )


@pytest.mark.parametrize(
    "path",
    [
        "/analytics/hotspots?unit=grid&permutations=99",
        "/analytics/hotspots?unit=hex&size_m=400&permutations=99",
        "/maps/hotspots?unit=grid&permutations=99",
    ],
)
def test_a_stored_far_report_breaks_no_analysis(served: tuple[str, Engine], path: str) -> None:
    base, engine = served
    _plant_far_report(engine)
    response = httpx2.get(base + path, timeout=120)
    assert response.status_code == 200, response.text
    assert "far away" not in response.text


def test_the_heat_layer_never_projects_a_far_report(demo_engine: Engine) -> None:
    _plant_far_report(demo_engine)
    with demo_engine.connect() as conn:
        # Few points allowed: the reports are summed into metric cells (projected to UTM).
        cells = report_heat_points(conn, categories=CATEGORIES, max_points=50)
        points = report_heat_points(conn, categories=CATEGORIES, max_points=100_000)
    xmin, ymin, xmax, ymax = _extent(demo_engine)
    for lat, lon, _ in cells + points:
        assert xmin - 1 < lon < xmax + 1 and ymin - 1 < lat < ymax + 1
    assert sum(w for _, _, w in cells) == len(points)  # the same reports, summed


def test_an_admin_marks_a_report_invalid_and_analyses_leave_it_out(
    served: tuple[str, Engine],
) -> None:
    base, engine = served
    admin = account_headers(engine, "root", "admin")
    dispatcher = account_headers(engine, "li", "dispatcher", scope="990101")
    before = httpx2.get(base + "/analytics/hotspots", params=FAST, timeout=120).json()
    kpis_before = httpx2.get(base + "/analytics/kpis", params={"level": "district"}).json()
    created = httpx2.post(base + "/reports", json=REPORT, timeout=30).json()
    path = f"{base}/reports/{created['id']}/transitions"
    mark = {"action": "mark_invalid", "note": "spam: an advert"}
    refused = httpx2.post(path, json=mark, headers=dispatcher, timeout=30)
    assert refused.status_code == 403
    counted = httpx2.get(base + "/analytics/hotspots", params=FAST, timeout=120).json()
    assert counted["analysis"]["reports"] == before["analysis"]["reports"] + 1
    no_note = httpx2.post(path, json={"action": "mark_invalid"}, headers=admin, timeout=30)
    assert no_note.status_code == 422
    marked = httpx2.post(path, json=mark, headers=admin, timeout=30)
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "invalid" and marked.json()["allowed_actions"] == []
    after = httpx2.get(base + "/analytics/hotspots", params=FAST, timeout=120).json()
    assert after["analysis"]["reports"] == before["analysis"]["reports"]
    kpis_after = httpx2.get(base + "/analytics/kpis", params={"level": "district"}).json()
    totals = [sum(u["total"] for u in k["units"]) for k in (kpis_before, kpis_after)]
    assert totals[0] == totals[1]
    # Kept, with its trail: an event, not a delete.
    kept = httpx2.get(f"{base}/reports/{created['id']}", headers=admin, timeout=30).json()
    assert kept["status"] == "invalid"
    events = httpx2.get(f"{base}/reports/{created['id']}/events", headers=admin).json()
    assert [e["action"] for e in events] == ["report", "mark_invalid"]
    assert events[-1]["note"] == "spam: an advert" and events[-1]["actor"] == "root"
    listed = httpx2.get(base + "/reports", params={"status": "invalid"}, timeout=30).json()
    assert [f["properties"]["id"] for f in listed["features"]] == [created["id"]]
