"""Open311 GeoReport v2: services, requests GET/POST, status mapping, its error format."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from tests.accounts import account_headers
from tests.conftest import settings_for

FORM = {
    "service_code": "road_damage",
    "lat": "30.66",
    "long": "104.06",
    "description": "Manhole cover missing",
    "first_name": "Zhang",
    "last_name": "San",
    "phone": "13912345678",
    "email": "zs@example.com",
}


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(demo_engine), engine=demo_engine)) as c:
        yield c


def test_services_list_the_categories(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    codes = {s["service_code"] for s in services}
    assert {"sanitation", "public_security", "neighbour_dispute", "parking"} <= codes
    assert {"building_leak", "road_damage", "waste_sorting", "elderly_care"} <= codes
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)
    assert client.get("/open311/v2/services/parking.json").json() == {
        "service_code": "parking",
        "attributes": [],
    }
    missing = client.get("/open311/v2/services/unicorns.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "service_code: no service 'unicorns'"}]


def test_post_then_get_without_contact(client: TestClient, demo_engine: Engine) -> None:
    created = client.post("/open311/v2/requests.json", data=FORM)
    assert created.status_code == 201
    [receipt] = created.json()
    rid = receipt["service_request_id"]
    [request] = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert request["status"] == "open"
    assert request["service_code"] == "road_damage"
    assert request["lat"] == 30.66 and request["long"] == 104.06
    assert request["expected_datetime"] is not None
    listed = client.get("/open311/v2/requests.json", params={"status": "open"}).text
    for secret in ("13912345678", "Zhang", "zs@example.com"):
        assert secret not in listed
        assert secret not in client.get(f"/open311/v2/requests/{rid}.json").text
    # The dispatcher's own API still has the contact, for a signed-in dispatcher.
    admin = account_headers(demo_engine, "root", "admin")
    assert "reporter" not in client.get(f"/reports/{rid}").json()
    assert client.get(f"/reports/{rid}", headers=admin).json()["reporter"]["name"] == "Zhang San"
    rejected = client.post(
        f"/reports/{rid}/transitions", json={"action": "reject", "note": "n"}, headers=admin
    )
    assert rejected.status_code == 200, rejected.text
    assert client.get(f"/open311/v2/requests/{rid}.json").json()[0]["status"] == "closed"
    assert client.get("/open311/v2/requests.json", params={"status": "open"}).json() == []
    closed = client.get("/open311/v2/requests.json", params={"status": "closed"}).json()
    assert [r["service_request_id"] for r in closed] == [rid]


def test_json_post_and_filters(client: TestClient) -> None:
    client.post("/open311/v2/requests.json", json=FORM | {"service_code": "parking"})
    client.post("/open311/v2/requests.json", data=FORM)
    parking = client.get("/open311/v2/requests.json", params={"service_code": "parking"}).json()
    assert [r["service_code"] for r in parking] == ["parking"]
    none = client.get("/open311/v2/requests.json", params={"start_date": "2100-01-01T00:00:00Z"})
    assert none.json() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lat": "91"}, "lat"),
        ({"long": "east"}, "long"),
        ({"service_code": "unicorns"}, "category"),
        ({"description": ""}, "description"),
    ],
)
def test_errors_use_open311_format(client: TestClient, change: dict[str, str], field: str) -> None:
    response = client.post("/open311/v2/requests.json", data=FORM | change)
    assert response.status_code == 400
    [error] = response.json()
    assert error["code"] == 400
    assert error["description"].startswith(f"{field}:")
    assert client.get("/open311/v2/requests.json").json() == []


def test_unknown_request_and_bad_filter(client: TestClient) -> None:
    missing = client.get("/open311/v2/requests/424242.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404
    bad = client.get("/open311/v2/requests.json", params={"status": "pending"})
    assert bad.status_code == 400 and bad.json()[0]["description"].startswith("status:")
    # The rest of the API keeps its own error format.
    assert "detail" in client.get("/reports/424242").json()
