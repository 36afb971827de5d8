"""Signing in, and the report routes under the policy: contact only in scope, transitions by
allowed roles in scope (a matrix generated from the policy table), events' public view."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from api.session import CSRF_HEADER, SESSION_COOKIE
from gis.access.accounts import disable_user
from gis.access.policy import (
    TRANSITION_REPORT,
    Role,
    expected_outcome,
    transition_permission,
)
from gis.reports.actions import ACTIONS
from tests.accounts import PASSWORD, account_headers, page_csrf_token
from tests.conftest import settings_for

PLANTED = {
    "reporter_name": "Planted Resident",
    "reporter_phone": "13911112222",
    "photo_url": "https://photos.example.cn/planted-photo.jpg",
}
SECRETS = tuple(PLANTED.values())
# A point inside one district, away from its borders, and the enclave corner of 三河社区.
INLAND = {"lat": 30.65831, "lon": 104.04498}
ENCLAVE = {"lat": 30.66, "lon": 104.06}


@pytest.fixture
def client(city_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(city_engine), engine=city_engine)) as c:
        yield c


def _report(client: TestClient, where: dict[str, float], **extra: Any) -> dict[str, Any]:
    body = {"category": "sanitation", "description": "bins", **where, **PLANTED, **extra}
    response = client.post("/reports", json=body)
    assert response.status_code == 201, response.text
    report: dict[str, Any] = response.json()
    return report


def _codes(report: dict[str, Any]) -> set[str]:
    location = report["location"]
    values = [*location.values(), report["responsible_code"], report["coordinating_community_code"]]
    return {v for v in values if isinstance(v, str)}


def _other_district(engine: Engine, report: dict[str, Any]) -> str:
    with engine.connect() as conn:
        districts = conn.execute(text("SELECT code FROM districts ORDER BY code")).scalars()
        return str(next(d for d in districts if not any(c.startswith(d) for c in _codes(report))))


def _other_grid(engine: Engine, district: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT min(code) FROM grids WHERE code LIKE :d || '%'"), {"d": district}
            ).scalar_one()
        )


def _leaks(response_text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in response_text]


def test_sign_in_me_and_disable(client: TestClient, city_engine: Engine) -> None:
    account_headers(city_engine, "li", "dispatcher", scope="990101")
    bad = client.post("/auth/token", data={"username": "li", "password": "not the password"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"
    assert "incorrect" in bad.json()["detail"]
    signed = client.post("/auth/token", data={"username": "li", "password": PASSWORD})
    assert signed.status_code == 200
    token = signed.json()
    assert token["token_type"] == "bearer" and 0 < token["expires_in"] <= 480 * 60
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    me = client.get("/auth/me", headers=headers).json()
    assert me["name"] == "li" and me["role"] == "dispatcher" and me["scopes"] == ["990101"]
    assert me["permissions"]["report.accept"] == "in_scope"
    assert "report.arrive" not in me["permissions"]
    client.cookies.clear()  # the session cookie a browser would keep
    anonymous = client.get("/auth/me")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    with city_engine.begin() as conn:
        disable_user(conn, "li")
    # The same token, at once: refused everywhere, also on public endpoints.
    for path in ("/auth/me", "/reports", "/grids?limit=1"):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"] == "Bearer"
    garbage = client.get("/grids?limit=1", headers={"Authorization": "Bearer not-a-token"})
    assert garbage.status_code == 401
    assert (
        client.post("/auth/token", data={"username": "li", "password": PASSWORD}).status_code == 401
    )


def test_contact_only_for_contact_roles_in_scope(client: TestClient, city_engine: Engine) -> None:
    created = client.post(
        "/reports", json={"category": "sanitation", "description": "bins", **INLAND, **PLANTED}
    )
    # The anonymous submitter gets the public view back, too.
    assert created.status_code == 201 and _leaks(created.text) == []
    report = created.json()
    rid, location = report["id"], report["location"]
    other = _other_district(city_engine, report)
    viewers = {
        "in-scope worker": account_headers(
            city_engine, "w1", "worker", scope=location["grid_code"]
        ),
        "in-scope dispatcher": account_headers(
            city_engine, "d1", "dispatcher", scope=location["district_code"]
        ),
        "city admin": account_headers(city_engine, "a1", "admin"),
    }
    blind = {
        "anonymous": {},
        "analyst": account_headers(city_engine, "an", "analyst"),
        "out-of-scope worker": account_headers(
            city_engine, "w2", "worker", scope=_other_grid(city_engine, other)
        ),
        "out-of-scope dispatcher": account_headers(city_engine, "d2", "dispatcher", scope=other),
        "out-of-scope admin": account_headers(city_engine, "a2", "admin", scope=other),
    }
    dispatcher = viewers["in-scope dispatcher"]
    client.post(
        f"/reports/{rid}/transitions", json={"action": "accept", "note": "ok"}, headers=dispatcher
    )
    for who, headers in viewers.items():
        shown = client.get(f"/reports/{rid}", headers=headers).json()
        assert shown["reporter"] == {
            "name": PLANTED["reporter_name"],
            "phone": PLANTED["reporter_phone"],
        }, who
        assert shown["photo_url"] == PLANTED["photo_url"]
        events = client.get(f"/reports/{rid}/events", headers=headers).json()
        assert [e["actor"] for e in events] == ["resident", "d1"], who
    for who, headers in blind.items():
        for path in (
            f"/reports/{rid}",
            f"/reports/{rid}/events",
            "/reports",
            "/open311/v2/requests.json",
        ):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (who, path)
            assert _leaks(response.text) == [], (who, path)
        events = client.get(f"/reports/{rid}/events", headers=headers).json()
        assert all("actor" not in e and "note" not in e for e in events), who
        assert [e["action"] for e in events] == ["report", "accept"]


def test_transition_matrix_follows_the_policy(client: TestClient, city_engine: Engine) -> None:
    """Every action × role × in/out of scope: 401/403 as the policy says; allowed ones pass
    the gate (200, or 409 when the report's state does not admit the action)."""
    probe = _report(client, INLAND)
    location = probe["location"]
    other = _other_district(city_engine, probe)
    scopes = {
        Role.WORKER: (location["grid_code"], _other_grid(city_engine, other)),
        Role.DISPATCHER: (location["district_code"], other),
        Role.ADMIN: (location["district_code"], other),
        Role.ANALYST: ("", ""),
    }
    headers: dict[tuple[Role, bool], dict[str, str]] = {(Role.ANONYMOUS, True): {}}
    headers[(Role.ANONYMOUS, False)] = {}
    for role, (inside, outside) in scopes.items():
        headers[(role, True)] = account_headers(city_engine, f"{role}-in", role, scope=inside)
        headers[(role, False)] = account_headers(city_engine, f"{role}-out", role, scope=outside)
    status_of = {"unauthorized": {401}, "forbidden": {403}, "allow": {200, 409}}
    checked = 0
    for action, role, in_scope in itertools.product(ACTIONS, Role, (True, False)):
        report = _report(client, INLAND)
        gate = expected_outcome(role, TRANSITION_REPORT, in_scope=in_scope)
        own = expected_outcome(role, transition_permission(action), in_scope=in_scope)
        expected = gate if gate != "allow" else own
        response = client.post(
            f"/reports/{report['id']}/transitions",
            json={"action": action, "note": "n", "duplicate_of": probe["id"]},
            headers=headers[(role, in_scope)],
        )
        assert response.status_code in status_of[expected], (action, role, in_scope, response.text)
        if response.status_code in (401, 403):
            assert _leaks(response.text) == []
            with city_engine.connect() as conn:
                events = conn.execute(
                    text("SELECT count(*) FROM report_events WHERE report_id = :id"),
                    {"id": report["id"]},
                ).scalar_one()
            assert events == 1  # nothing written
        checked += 1
    assert checked == len(ACTIONS) * len(Role) * 2


def test_escalation_across_the_border_makes_the_report_visible_to_the_receiving_unit(
    client: TestClient, city_engine: Engine
) -> None:
    report = _report(client, ENCLAVE)
    rid, grid = report["id"], report["location"]["grid_code"]
    receiving = report["coordinating_community_code"]
    # The enclave's grid belongs to one district, the community coordinating it to another.
    assert receiving and not grid.startswith(receiving[:6])
    sender = account_headers(city_engine, "send", "dispatcher", scope=grid[:6])
    receiver = account_headers(city_engine, "recv", "dispatcher", scope=receiving)
    worker = account_headers(city_engine, "grid", "worker", scope=grid)
    # Still its grid's business: the community across the border sees the public view only
    # and may not act on it.
    before = client.get(f"/reports/{rid}", headers=receiver)
    assert before.status_code == 200 and "reporter" not in before.json()
    assert _leaks(before.text) == []
    refused = client.post(
        f"/reports/{rid}/transitions", json={"action": "accept"}, headers=receiver
    )
    assert refused.status_code == 403 and "out of scope" in refused.json()["detail"]
    escalate = client.post(
        f"/reports/{rid}/transitions", json={"action": "escalate"}, headers=sender
    )
    assert escalate.status_code == 200, escalate.text
    assert escalate.json()["responsible_code"] == receiving
    # Escalated across the border: the receiving unit sees the contact and acts on it.
    after = client.get(f"/reports/{rid}", headers=receiver).json()
    assert after["reporter"]["phone"] == PLANTED["reporter_phone"]
    assert after["photo_url"] == PLANTED["photo_url"]
    events = client.get(f"/reports/{rid}/events", headers=receiver).json()
    assert [e["actor"] for e in events] == ["resident", "send"]
    accepted = client.post(
        f"/reports/{rid}/transitions", json={"action": "accept"}, headers=receiver
    )
    assert accepted.status_code == 200, accepted.text
    # Further up the receiving side's hierarchy, the receiving community keeps it.
    escalate = client.post(
        f"/reports/{rid}/transitions", json={"action": "escalate"}, headers=sender
    )
    assert escalate.json()["responsible_code"] == receiving[:9]
    assert client.get(f"/reports/{rid}", headers=receiver).json()["reporter"]
    # The grid worker still reaches it (its grid) but may not accept: not a worker action.
    refused = client.post(f"/reports/{rid}/transitions", json={"action": "accept"}, headers=worker)
    assert refused.status_code == 403 and "worker role may not" in refused.json()["detail"]


def test_the_session_cookie_is_the_account_and_changes_need_the_csrf_token(
    client: TestClient, city_engine: Engine
) -> None:
    """A browser signed in (POST /auth/token, as /docs does) is that account on every route,
    with its role and scope; a change made with the cookie alone (another site's form) is
    refused, and goes through with the CSRF token of a page of this server."""
    account_headers(city_engine, "li", "dispatcher", scope="990101")
    report = _report(client, INLAND)
    coverage = "/maps/grids?patrol_coverage=true&problems=false&reports=false"
    assert client.get(coverage).status_code == 401
    signed = client.post("/auth/token", data={"username": "li", "password": PASSWORD})
    assert signed.status_code == 200
    (set_cookie,) = list(signed.cookies.jar)
    assert set_cookie.name == SESSION_COOKIE and set_cookie.path == "/"
    assert set_cookie.has_nonstandard_attr("HttpOnly") and not set_cookie.secure
    assert "samesite=strict" in signed.headers["set-cookie"].lower()
    # The client keeps the cookie as a browser does.
    assert client.get(coverage).status_code == 200
    assert client.get("/auth/me").json()["name"] == "li"
    assert client.get("/patrols").status_code == 200
    transition = f"/reports/{report['id']}/transitions"
    refused = client.post(transition, json={"action": "accept"})
    assert refused.status_code == 403 and refused.json()["detail"].startswith("csrf:")
    forged = client.post(transition, json={"action": "accept"}, headers={CSRF_HEADER: "0" * 64})
    assert forged.status_code == 403
    token = page_csrf_token(client)
    moved = client.post(transition, json={"action": "accept"}, headers={CSRF_HEADER: token})
    assert moved.status_code == 200, moved.text
    # Another site's form cannot sign a browser in as someone else through /auth/token.
    client.cookies.clear()
    cross_site = client.post(
        "/auth/token",
        data={"username": "li", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 200 and SESSION_COOKIE not in cross_site.cookies
    client.post("/auth/token", data={"username": "li", "password": PASSWORD})
    with city_engine.begin() as conn:
        disable_user(conn, "li")
    # A disabled account's session is a signed-out browser.
    assert client.get(coverage).status_code == 401
