"""Transitions taken on a stale view of a report are refused (issue 22, item 5): a double
click escalates once, two dispatchers dispatch once; against a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import account_headers
from tests.conftest import settings_for
from tests.endpoints import INLAND
from tests.maps.conftest import serve

REPORT = {**INLAND, "category": "sanitation", "description": "bins"}


@pytest.fixture
def base(city_engine: Engine) -> Iterator[str]:
    with serve(create_app(settings_for(city_engine), engine=city_engine)) as url:
        yield url


def _concurrently(base: str, calls: list[tuple[str, dict[str, Any], dict[str, str]]]) -> list[int]:
    """POST every call at once (a barrier releases them together); the statuses, in order."""
    barrier = threading.Barrier(len(calls))

    def post(call: tuple[str, dict[str, Any], dict[str, str]]) -> int:
        path, body, headers = call
        with httpx2.Client(base_url=base, timeout=30) as http:
            http.get("/categories")  # connected before the barrier
            barrier.wait()
            return http.post(path, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(post, calls))


def _new_report(base: str, admin: dict[str, str]) -> dict[str, Any]:
    created = httpx2.post(base + "/reports", json=REPORT, timeout=30)
    assert created.status_code == 201, created.text
    got = httpx2.get(f"{base}/reports/{created.json()['id']}", headers=admin, timeout=30)
    return dict(got.json()) | {"etag": got.headers["etag"]}


def test_double_escalation_with_if_match_applies_once(base: str, city_engine: Engine) -> None:
    admin = account_headers(city_engine, "root", "admin")
    report = _new_report(base, admin)
    assert report["etag"] == '"1"' and report["version"] == 1
    path = f"/reports/{report['id']}/transitions"
    headers = {**admin, "If-Match": report["etag"]}
    statuses = _concurrently(base, [(path, {"action": "escalate"}, headers)] * 2)
    assert sorted(statuses) == [200, 409]
    after = httpx2.get(f"{base}/reports/{report['id']}", headers=admin, timeout=30)
    assert after.json()["escalation_level"] == "community"  # one level, not two
    assert after.headers["etag"] == '"2"'
    with city_engine.connect() as conn:
        escalations = conn.execute(
            text("SELECT count(*) FROM report_events WHERE action = 'escalate'")
        ).scalar_one()
    assert escalations == 1
    # The refusal says what the report is now, so the client can decide again.
    stale = httpx2.post(base + path, json={"action": "escalate"}, headers=headers, timeout=30)
    assert stale.status_code == 409
    body = stale.json()
    assert body["current_version"] == 2 and body["current_status"] == "reported"
    assert "changed since you saw it" in body["detail"] and "version 2, not 1" in body["detail"]
    fresh = {**admin, "If-Match": after.headers["etag"]}
    again = httpx2.post(base + path, json={"action": "escalate"}, headers=fresh, timeout=30)
    assert again.status_code == 200 and again.headers["etag"] == '"3"'


def test_double_dispatch_with_expected_status_applies_once(base: str, city_engine: Engine) -> None:
    admin = account_headers(city_engine, "root", "admin")
    report = _new_report(base, admin)
    path = f"/reports/{report['id']}/transitions"
    accepted = httpx2.post(
        base + path, json={"action": "accept", "expected_status": "reported"}, headers=admin
    )
    assert accepted.status_code == 200, accepted.text
    dispatch = {"action": "dispatch", "expected_status": "accepted"}
    statuses = _concurrently(base, [(path, dispatch, admin)] * 2)
    assert sorted(statuses) == [200, 409]
    with city_engine.connect() as conn:
        dispatches = conn.execute(
            text("SELECT count(*) FROM report_events WHERE action = 'dispatch'")
        ).scalar_one()
    assert dispatches == 1


def test_if_match_and_expected_status_are_checked(base: str, city_engine: Engine) -> None:
    admin = account_headers(city_engine, "root", "admin")
    report = _new_report(base, admin)
    path = f"{base}/reports/{report['id']}/transitions"
    for bad in ('"abc"', "", "1, 2"):
        response = httpx2.post(
            path, json={"action": "accept"}, headers={**admin, "If-Match": bad}, timeout=30
        )
        assert response.status_code == 422, (bad, response.text)
        assert "If-Match" in response.json()["detail"]
    unknown = httpx2.post(
        path, json={"action": "accept", "expected_status": "lost"}, headers=admin, timeout=30
    )
    assert unknown.status_code == 422 and "expected_status" in unknown.json()["detail"]
    wrong = httpx2.post(
        path, json={"action": "accept", "expected_status": "accepted"}, headers=admin, timeout=30
    )
    assert wrong.status_code == 409 and "'reported', not 'accepted'" in wrong.json()["detail"]
    # "*" and no precondition at all: applied as before.
    star = httpx2.post(
        path, json={"action": "accept"}, headers={**admin, "If-Match": "*"}, timeout=30
    )
    assert star.status_code == 200 and star.json()["status"] == "accepted"
    plain = httpx2.post(path, json={"action": "escalate"}, headers=admin, timeout=30)
    assert plain.status_code == 200 and plain.json()["version"] == 3
