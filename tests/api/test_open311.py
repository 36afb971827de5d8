"""Open311 GeoReport v2: services, requests GET/POST, status mapping, its error format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from tests import conftest
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


# The demo city with an empty queue: its history is current, so Open311's default window (the
# last 90 days) would list it; these tests read the requests they post.
@pytest.fixture
def client(city_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(city_engine), engine=city_engine)) as c:
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


def test_post_then_get_without_contact(client: TestClient, city_engine: Engine) -> None:
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
    admin = account_headers(city_engine, "root", "admin")
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


def test_every_error_on_open311_paths_is_the_standard_list(city_engine: Engine) -> None:
    """Errors raised before any handler runs — the body limit, the text guard, a bad token,
    an unknown route or method, a parameter given twice, a body FastAPI cannot parse — are
    GeoReport v2 lists on Open311 paths, and keep ``{"detail"}`` elsewhere."""
    settings = settings_for(city_engine, max_body_bytes=2048)
    cases = [
        ("POST", "/open311/v2/requests.json", {"data": FORM | {"description": "x" * 4000}}, 413),
        ("GET", "/open311/v2/requests.json?service_code=a%00b", {}, 400),
        ("GET", "/open311/v2/services.json", {"headers": {"Authorization": "Bearer nope"}}, 401),
        ("GET", "/open311/v2/requests.json?service_code=a&service_code=b", {}, 400),
        ("GET", "/open311/v2/nothing.json", {}, 404),
        ("DELETE", "/open311/v2/requests.json", {}, 405),
        (
            "POST",
            "/open311/v2/requests.json",
            {"content": b"\xff\xfe{", "headers": {"Content-Type": "application/json"}},
            400,
        ),
    ]
    with TestClient(create_app(settings, engine=city_engine)) as client:
        for method, url, kwargs, status in cases:
            response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == status, (url, response.text)
            assert response.headers["content-type"] == "application/json"
            [error] = response.json()
            assert error["code"] == status and error["description"], url
        elsewhere = client.post(
            "/reports", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
        )
        assert elsewhere.status_code == 422 and "UTF-8" in elsewhere.json()["detail"]


def _is_w3c_datetime(value: object) -> bool:
    """GeoReport v2 datetimes: ISO 8601 with a UTC offset (or Z)."""
    if not isinstance(value, str):
        return False
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.utcoffset() is not None


# GeoReport v2's type of every field of a service request; None is allowed where noted.
FIELD_TYPES: dict[str, tuple[Callable[[object], bool], bool]] = {
    "service_request_id": (lambda v: isinstance(v, str), False),
    "status": (lambda v: v in ("open", "closed"), False),
    "status_notes": (lambda v: isinstance(v, str), True),
    "service_name": (lambda v: isinstance(v, str), False),
    "service_code": (lambda v: isinstance(v, str), False),
    "description": (lambda v: isinstance(v, str), False),
    "agency_responsible": (lambda v: isinstance(v, str), True),
    "service_notice": (lambda v: isinstance(v, str), True),
    "requested_datetime": (_is_w3c_datetime, False),
    "updated_datetime": (_is_w3c_datetime, True),
    "expected_datetime": (_is_w3c_datetime, True),
    "address": (lambda v: isinstance(v, str), True),
    "address_id": (lambda v: isinstance(v, str), True),
    "zipcode": (lambda v: isinstance(v, str), True),
    "lat": (lambda v: isinstance(v, float) and -90 <= v <= 90, False),
    "long": (lambda v: isinstance(v, float) and -180 <= v <= 180, False),
}


@pytest.fixture(scope="module")
def service_requests(
    pg_server: conftest.TestServer, templates: dict[str, str]
) -> Iterator[list[dict[str, object]]]:
    """Demo requests of a month of history and one posted now (all with deadlines)."""
    for engine in conftest.fresh_database(pg_server, templates["demo"]):
        with TestClient(create_app(settings_for(engine), engine=engine)) as c:
            window = {
                "start_date": conftest.demo_iso("2025-06-01T00:00:00+08:00"),
                "end_date": conftest.demo_iso("2025-07-01T00:00:00+08:00"),
            }
            found: list[dict[str, object]] = c.get(
                "/open311/v2/requests.json", params=window
            ).json()
            [posted] = c.post("/open311/v2/requests.json", data=FORM).json()
            found += c.get(f"/open311/v2/requests/{posted['service_request_id']}.json").json()
        assert len(found) > 100
        yield found


@pytest.mark.parametrize("field", FIELD_TYPES)
def test_every_field_has_the_standard_type(
    service_requests: list[dict[str, object]], field: str
) -> None:
    check, nullable = FIELD_TYPES[field]
    values = [request[field] for request in service_requests]
    assert all(check(v) or (nullable and v is None) for v in values), values[:3]
    # Each typed check must have met real values, not only nulls.
    assert any(v is not None for v in values) or field in ("service_notice", "zipcode")


def test_no_field_beyond_the_standard_and_nothing_personal(
    service_requests: list[dict[str, object]],
) -> None:
    assert {k for r in service_requests for k in r} <= set(FIELD_TYPES)
