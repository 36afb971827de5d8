"""The reports API: intake, idempotent retries under concurrency, bad input, transitions, KPIs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import account_headers
from tests.conftest import settings_for

GOOD = {
    "lat": 30.66,
    "lon": 104.06,
    "category": "sanitation",
    "description": "Overflowing bins at the east gate",
    "reporter_name": "Wang",
    "reporter_phone": "13800000000",
}


@pytest.fixture
def client(city_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(city_engine), engine=city_engine)) as c:
        yield c


def _count(engine: Engine, table: str = "reports") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_post_report_returns_location_and_due_time(client: TestClient) -> None:
    response = client.post("/reports", json=GOOD, headers={"Idempotency-Key": "abc"})
    assert response.status_code == 201
    report = response.json()
    assert report["status"] == "reported"
    assert report["located"] is True
    assert set(report["location"]) >= {"district_code", "community_code", "grid_code"}
    assert report["location"]["grid_code"].startswith(report["location"]["community_code"])
    assert report["due_at"] == report["due_resolution_at"]
    assert report["due_arrival_at"] < report["due_resolution_at"]
    retry = client.post("/reports", json=GOOD, headers={"Idempotency-Key": "abc"})
    assert retry.status_code == 201
    assert retry.json()["id"] == report["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    other = client.post("/reports", json=GOOD | {"lat": 30.65}, headers={"Idempotency-Key": "abc"})
    assert other.status_code == 409


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_20_concurrent_identical_posts_store_exactly_one(city_engine: Engine) -> None:
    port = _free_port()
    app = create_app(settings_for(city_engine), engine=city_engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    barrier = threading.Barrier(20)

    def post(_: int) -> httpx2.Response:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            barrier.wait()
            return http.post("/reports", json=GOOD, headers={"Idempotency-Key": "same-key"})

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(post, range(20)))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(city_engine) == 1
    assert _count(city_engine, "report_events") == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lat": 91}, "lat"),
        ({"lon": "east of the park"}, "lon"),
        ({"lon": "104.06"}, "lon"),
        ({"category": "unicorns"}, "category"),
        ({"description": "x" * 1_000_000}, "description"),
        ({"description": None}, "description"),
        ({"photo_url": "file:///etc/passwd"}, "photo_url"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, city_engine: Engine, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in (GOOD | change).items() if v is not None}
    response = client.post("/reports", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}:")
    assert _count(city_engine) == 0


@pytest.mark.parametrize("missing", ["lat", "lon", "category", "description"])
def test_missing_fields_are_named(client: TestClient, city_engine: Engine, missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    response = client.post("/reports", json=body)
    assert response.status_code == 422
    assert f"{missing}: Field required" in response.json()["detail"]
    assert _count(city_engine) == 0


def test_not_json_is_refused(client: TestClient, city_engine: Engine) -> None:
    response = client.post(
        "/reports", content=b"lat=1", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert _count(city_engine) == 0


def test_dispatcher_flow_transitions_and_events(client: TestClient, city_engine: Engine) -> None:
    report = client.post("/reports", json=GOOD).json()
    rid = report["id"]
    location = report["location"]
    dispatcher = account_headers(city_engine, "li", "dispatcher", scope=location["district_code"])
    worker = account_headers(city_engine, "wang", "worker", scope=location["grid_code"])
    illegal = client.post(
        f"/reports/{rid}/transitions", json={"action": "close"}, headers=dispatcher
    )
    assert illegal.status_code == 409
    body = illegal.json()
    assert body["current_status"] == "reported"
    assert body["allowed_actions"] == [
        "accept",
        "reject",
        "confirm_duplicate",
        "escalate",
        "mark_invalid",
    ]
    assert "'reported'" in body["detail"] and "accept" in body["detail"]
    steps = [
        ({"action": "accept"}, dispatcher),
        ({"action": "dispatch"}, dispatcher),
        ({"action": "arrive"}, worker),
        # A free-text actor is ignored: the event names the signed-in account.
        ({"action": "resolve", "actor": "someone else", "note": "bins emptied"}, worker),
        ({"action": "verify"}, dispatcher),
        ({"action": "close"}, dispatcher),
    ]
    for step, headers in steps:
        response = client.post(f"/reports/{rid}/transitions", json=step, headers=headers)
        assert response.status_code == 200, response.text
    final = client.get(f"/reports/{rid}", headers=dispatcher).json()
    assert final["status"] == "closed"
    assert final["worker"]["role"] == "grid_worker"
    assert final["reporter"]["phone"] == GOOD["reporter_phone"]
    events = client.get(f"/reports/{rid}/events", headers=dispatcher).json()
    assert [e["action"] for e in events] == ["report"] + [s["action"] for s, _ in steps]
    # The first event names the role, never the resident.
    assert events[0]["actor"] == "resident" and "Wang" not in str(events)
    assert events[4]["note"] == "bins emptied"
    assert [e["actor"] for e in events] == ["resident", "li", "li", "wang", "wang", "li", "li"]
    assert all(e["at"] for e in events)
    assert client.get("/reports/999999/events").status_code == 404
    unknown = client.post(f"/reports/{rid}/transitions", json={"action": "fly"}, headers=dispatcher)
    assert unknown.status_code == 422
    kpis = client.get("/analytics/kpis", params={"level": "district"}).json()
    unit = next(u for u in kpis["units"] if u["district"] == final["location"]["district_code"])
    assert unit["by_status"]["closed"] == 1
    assert unit["on_time_arrival_rate"] == 1.0
    assert unit["median_close_minutes"] is not None
    assert unit["escalated_share"] == 0.0


def test_listing_filters_and_hides_contact(client: TestClient, city_engine: Engine) -> None:
    ids = [
        client.post("/reports", json=GOOD | {"lon": 104.05 + i * 0.002}).json()["id"]
        for i in range(3)
    ]
    client.post("/reports", json=GOOD | {"category": "parking"})
    admin = account_headers(city_engine, "root", "admin")
    client.post(f"/reports/{ids[0]}/transitions", json={"action": "accept"}, headers=admin)
    page = client.get("/reports", params={"category": "sanitation", "limit": 2}).json()
    assert page["numberMatched"] == 3 and page["numberReturned"] == 2
    assert "reporter" not in page["features"][0]["properties"]
    assert "13800000000" not in str(page)
    accepted = client.get("/reports", params={"status": "accepted"}).json()
    assert [f["id"] for f in accepted["features"]] == [ids[0]]
    assert client.get("/reports", params={"overdue": "true"}).json()["numberMatched"] == 0
    assert client.get("/reports", params={"status": "lost"}).status_code == 422
    grid = client.get(f"/reports/{ids[1]}").json()["location"]["grid_code"]
    by_grid = client.get("/reports", params={"grid": grid}).json()
    assert ids[1] in [f["id"] for f in by_grid["features"]]
    boxed = client.get("/reports", params={"bbox": "104.0495,30.65,104.0505,30.67"}).json()
    assert [f["id"] for f in boxed["features"]] == [ids[0]]
    future = client.get("/reports", params={"since": "2100-01-01T00:00:00Z"}).json()
    assert future["numberMatched"] == 0
