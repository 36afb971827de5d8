"""``GET /coverage/cross-district`` on the demo city."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from gis.city import demo_manifest
from tests.conftest import settings_for


def test_straddling_community_shares_sum_to_100_percent(shared_demo_engine: Engine) -> None:
    straddler = demo_manifest()["straddling_community"]
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as client:
        body = client.get("/coverage/cross-district").json()
    (unit,) = [u for u in body["communities"] if u["code"] == straddler]
    assert len(unit["districts"]) == 3
    assert abs(sum(d["share"] for d in unit["districts"]) - 1.0) < 0.001
    assert all(p["geometry"]["type"] == "Polygon" for p in unit["enclave_parts"])
    assert all(g["layer"] == "grid" and len(g["districts"]) > 1 for g in body["grids"])
