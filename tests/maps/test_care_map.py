"""Overdue care visits on the grids map: the buildings with overdue households and their
counts, checked against the household list; no name, phone or flag in any of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from gis.core.settings import Settings
from maps.care import CARE_VISITS_PATH
from maps.pages import grids_page
from tests.accounts import account_headers
from tests.conftest import settings_for


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(demo_engine), engine=demo_engine)) as test_client:
        yield test_client


def test_overdue_buildings_match_the_household_list(
    client: TestClient, demo_engine: Engine
) -> None:
    admin = account_headers(demo_engine, "root", "admin")
    overdue: list[dict[str, object]] = []
    offset = 0
    while True:
        page = client.get(
            "/households",
            params={"due": "overdue", "limit": 1000, "offset": offset},
            headers=admin,
        ).json()
        overdue += page["households"]
        offset += 1000
        if offset >= page["numberMatched"]:
            break
    expected = Counter(str(h["building_code"]) for h in overdue)
    served = client.get(CARE_VISITS_PATH)  # anonymous: counts are public
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/geo+json"
    drawn = {f["properties"]["code"]: f["properties"] for f in served.json()["features"]}
    assert {code: p["overdue"] for code, p in drawn.items()} == dict(expected)
    assert len(drawn) > 50
    names = {str(h["head_name"]) for h in overdue} | {str(h["phone"]) for h in overdue}
    assert not any(name in served.text for name in names)
    assert "elderly_alone" not in served.text
    # The served page fetches the overlay after its tiles; it carries none of it.
    page = client.get("/maps/grids", params={"bbox": "104.040,30.654,104.050,30.662"})
    assert CARE_VISITS_PATH in page.text and "overdue care visit(s)" not in page.text
    off = client.get("/maps/grids", params={"care_visits": "false", "problems": "false"})
    assert CARE_VISITS_PATH not in off.text


def test_a_standalone_page_carries_the_counts(demo_engine: Engine) -> None:
    with demo_engine.connect() as conn:
        html = grids_page(conn, Settings(tile_url=""), problems=False).get_root().render()
    assert "overdue care visit(s)" in html and CARE_VISITS_PATH not in html
