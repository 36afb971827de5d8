"""``GET /topology`` returns the same report as the domain function."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from tests.conftest import settings_for


def test_topology_endpoint_reports_planted_problems(shared_demo_engine: Engine) -> None:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as client:
        body = client.get("/topology").json()
        assert body["ok"] is False and body["problem_count"] == 4
        assert body["gaps"][0]["geometry"]["type"] == "Polygon"
        assert 500 < body["overlaps"][0]["area_m2"] < 700
        # A tolerance above the gap's area turns it into a sliver.
        relaxed = client.get("/topology", params={"sliver_area_m2": 1000}).json()
        assert relaxed["counts"]["gaps"] == 0 and relaxed["counts"]["slivers"] == 2
        bad = client.get("/topology", params={"split_share": 2})
        assert bad.status_code == 422 and "split_share" in bad.json()["detail"]
