"""The dispatch desk (``/app/dispatch``) through the app: who may open it, the queue of the
scope overdue first with the time left, the actions the role may take now, a race answered
with what happened, the CSRF token required, bad input named."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from api.pages.dispatch import time_left
from tests.accounts import PASSWORD, account_headers, page_csrf_token
from tests.conftest import settings_for
from tests.endpoints import INLAND, SAMPLE_PHOTO

HTML = {"Accept": "text/html,application/xhtml+xml"}
QUEUE_ROW = re.compile(r'<tr class="(overdue)?" data-report="(\d+)"[^>]*>')


@dataclass
class Desk:
    client: TestClient
    engine: Engine
    district: str
    reports: list[int]
    outside: int


def _report(client: TestClient, **where: float) -> dict[str, Any]:
    body = {"category": "sanitation", "description": "desk test", **(where or INLAND)}
    created = client.post("/reports", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


@pytest.fixture(scope="module")
def desk(pg_server: object, templates: dict[str, str]) -> Iterator[Desk]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):  # type: ignore[arg-type]
        app = create_app(settings_for(engine), engine=engine)
        with TestClient(app, follow_redirects=False) as client:
            first = _report(client)
            district = first["location"]["district_code"]
            with engine.begin() as conn:
                # Every earlier report closed: the queue holds this test's reports only.
                conn.execute(
                    text("UPDATE reports SET status = 'closed' WHERE id <> :id"),
                    {"id": first["id"]},
                )
                lon, lat = conn.execute(
                    text(
                        "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                        "FROM districts WHERE code <> :d ORDER BY code LIMIT 1"
                    ),
                    {"d": district},
                ).one()
            reports = [first["id"], _report(client)["id"], _report(client)["id"]]
            outside = _report(client, lon=lon, lat=lat)["id"]
            with engine.begin() as conn:
                # The second has no deadline (as imported history may): it comes last.
                conn.execute(
                    text(
                        "UPDATE reports SET due_arrival_at = NULL, due_resolution_at = NULL "
                        "WHERE id = :id"
                    ),
                    {"id": reports[1]},
                )
                # The last one's arrival deadline passed an hour ago: it leads the queue.
                conn.execute(
                    text(
                        "UPDATE reports SET due_arrival_at = now() - interval '1 hour' "
                        "WHERE id = :id"
                    ),
                    {"id": reports[-1]},
                )
            account_headers(engine, "desk-dispatcher", "dispatcher", scope=district)
            account_headers(engine, "desk-worker", "worker", scope=district)
            yield Desk(client, engine, district, reports, outside)


@pytest.fixture
def browser(desk: Desk) -> Iterator[TestClient]:
    desk.client.cookies.clear()
    yield desk.client
    desk.client.cookies.clear()


def _sign_in(client: TestClient, name: str) -> None:
    token = page_csrf_token(client)
    done = client.post(
        "/app/login", data={"username": name, "password": PASSWORD, "csrf_token": token}
    )
    assert done.status_code == 303, done.text


def _act(client: TestClient, report_id: int, **form: str) -> Any:
    token = page_csrf_token(client, "/app/dispatch")
    return client.post(
        f"/app/dispatch/reports/{report_id}?lang=en", data={"csrf_token": token, **form}
    )


def test_anonymous_is_sent_to_sign_in_and_back(browser: TestClient) -> None:
    page = browser.get("/app/dispatch?status=open", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/app/login?next=%2Fapp%2Fdispatch%3Fstatus%3Dopen"


def test_a_worker_gets_a_403_page(browser: TestClient) -> None:
    _sign_in(browser, "desk-worker")
    page = browser.get("/app/dispatch?lang=en", headers=HTML)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Not allowed" in page.text and "worker role may not" in page.text
    zh = browser.get("/app/dispatch", headers=HTML)
    assert zh.status_code == 403 and "不允许" in zh.text


def test_the_queue_is_the_scope_overdue_first_with_time_left(
    browser: TestClient, desk: Desk
) -> None:
    _sign_in(browser, "desk-dispatcher")
    page = browser.get("/app/dispatch?lang=en", headers=HTML)
    assert page.status_code == 200
    assert "Dispatch desk" in page.text
    rows = [(int(rid), bool(late)) for late, rid in QUEUE_ROW.findall(page.text)]
    # Independently: open reports of the district, overdue first, then by arrival deadline.
    with desk.engine.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT id, COALESCE(due_arrival_at < now(), false) AS overdue FROM reports "
                "WHERE status = 'reported' AND district_code = :d "
                "ORDER BY 2 DESC, due_arrival_at NULLS LAST, id"
            ),
            {"d": desk.district},
        ).all()
    assert rows == [(r.id, r.overdue) for r in expected]
    assert rows[0] == (desk.reports[-1], True)
    assert rows[-1] == (desk.reports[1], False)
    assert desk.outside not in {rid for rid, _ in rows}
    assert "overdue by 1 h" in page.text
    fragment = browser.get("/app/dispatch/queue?lang=en", headers=HTML)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert [int(r) for _, r in QUEUE_ROW.findall(fragment.text)] == [r for r, _ in rows]
    zh = browser.get("/app/dispatch", headers=HTML)
    assert "调度台" in zh.text and "超时" in zh.text


def test_time_left_reads_as_a_person_would() -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)

    def en(message: str) -> str:
        return message

    assert time_left(now + timedelta(minutes=95, seconds=30), now, en) == "1 h 35 min left"
    assert time_left(now - timedelta(minutes=35), now, en) == "overdue by 35 min"
    assert time_left(now + timedelta(days=2, hours=3), now, en) == "2 d 3 h left"
    assert time_left(None, now, en) == ""


def test_accept_then_dispatch_and_the_events_show_it(browser: TestClient, desk: Desk) -> None:
    _sign_in(browser, "desk-dispatcher")
    report_id = desk.reports[0]
    page = browser.get(f"/app/dispatch?report={report_id}&lang=en", headers=HTML)
    shown = re.findall(r'class="action" data-action="(\w+)"', page.text)
    assert shown == ["accept", "reject", "confirm_duplicate", "escalate"]
    assert _act(browser, report_id, action="accept").status_code == 303
    page = browser.get(f"/app/dispatch?report={report_id}&lang=en", headers=HTML)
    assert re.findall(r'class="action" data-action="(\w+)"', page.text) == [
        "confirm_duplicate",
        "dispatch",
        "escalate",
    ]
    with desk.engine.connect() as conn:
        grid = conn.execute(
            text("SELECT grid_code FROM reports WHERE id = :id"), {"id": report_id}
        ).scalar_one()
        workers = conn.execute(
            text("SELECT DISTINCT worker_id FROM worker_grids WHERE grid_code = :g"), {"g": grid}
        ).scalars()
        grid_workers = sorted(workers)
    picker = re.search(r'name="worker_id">(.*?)</select>', page.text, re.S)
    assert picker is not None
    assert sorted(int(v) for v in re.findall(r'value="(\d+)"', picker.group(1))) == grid_workers
    done = _act(browser, report_id, action="dispatch", worker_id=str(grid_workers[-1]))
    assert done.status_code == 303
    with desk.engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT action, actor, details FROM report_events WHERE report_id = :id ORDER BY id"
            ),
            {"id": report_id},
        ).all()
    assert [e.action for e in events][-2:] == ["accept", "dispatch"]
    assert events[-1].actor == "desk-dispatcher"
    assert events[-1].details["worker_id"] == grid_workers[-1]
    page = browser.get(f"/app/dispatch?report={report_id}&lang=en", headers=HTML)
    assert re.findall(r'<li data-action="(\w+)">', page.text)[-2:] == ["accept", "dispatch"]
    # Someone else acted first: the page says what happened, with the actions allowed now.
    again = _act(browser, report_id, action="accept")
    assert again.status_code == 409
    assert "acted on report" in again.text and "dispatched" in again.text
    assert re.findall(r'class="action" data-action="(\w+)"', again.text) == [
        "dispatch",
        "escalate",
    ]


def test_the_reporter_row_says_who_reported_or_that_nobody_said(
    browser: TestClient, desk: Desk
) -> None:
    _sign_in(browser, "desk-dispatcher")
    report_id = desk.reports[2]
    page = browser.get(f"/app/dispatch?report={report_id}&lang=en", headers=HTML)
    row = re.search(r'id="report-reporter">(.*?)</dd>', page.text, re.S)
    assert row is not None and row.group(1).strip() == "anonymous: no name or phone given"
    with desk.engine.begin() as conn:
        conn.execute(
            text("UPDATE reports SET reporter_phone = '13800001111' WHERE id = :id"),
            {"id": report_id},
        )
    try:
        page = browser.get(f"/app/dispatch?report={report_id}&lang=en", headers=HTML)
        row = re.search(r'id="report-reporter">(.*?)</dd>', page.text, re.S)
        assert row is not None and '<a href="tel:13800001111">13800001111</a>' in row.group(1)
    finally:
        with desk.engine.begin() as conn:
            conn.execute(
                text("UPDATE reports SET reporter_phone = NULL WHERE id = :id"), {"id": report_id}
            )


def test_a_form_without_the_csrf_token_is_refused(browser: TestClient, desk: Desk) -> None:
    _sign_in(browser, "desk-dispatcher")
    report_id = desk.reports[1]
    refused = browser.post(f"/app/dispatch/reports/{report_id}", data={"action": "accept"})
    assert refused.status_code == 403
    assert "csrf" in refused.json()["detail"]
    with desk.engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM reports WHERE id = :id"), {"id": report_id}
        ).scalar_one()
    assert status == "reported"


def test_bad_input_is_named_and_changes_nothing(browser: TestClient, desk: Desk) -> None:
    _sign_in(browser, "desk-dispatcher")
    report_id = desk.reports[1]
    unknown = _act(browser, report_id, action="teleport")
    assert unknown.status_code == 422 and "unknown action" in unknown.text
    no_note = _act(browser, report_id, action="reject")
    assert no_note.status_code == 422 and "needs a note" in no_note.text
    not_number = _act(browser, report_id, action="confirm_duplicate", duplicate_of="abc")
    # The form's field takes digits only (the browser checks it too): named, as documented.
    assert not_number.status_code == 422 and "duplicate_of: " in not_number.json()["detail"]
    spec = browser.get("/openapi.json").json()
    body = next(v for k, v in spec["components"]["schemas"].items() if k.startswith("Body_desk"))
    assert not re.fullmatch(body["properties"]["duplicate_of"]["pattern"], "abc")
    # A status the filter does not know is refused, and the document lists those it knows.
    params = spec["paths"]["/app/dispatch"]["get"]["parameters"]
    documented = json.dumps(next(p for p in params if p["name"] == "status"))
    assert '"open"' in documented and "ReportStatus" in documented
    assert browser.get("/app/dispatch?status=lost", headers=HTML).status_code == 422
    assert browser.get("/app/dispatch?page=0", headers=HTML).status_code == 422
    assert browser.get("/app/dispatch?report=999999999", headers=HTML).status_code == 404
    # Out of the dispatcher's scope: neither shown nor changed.
    assert browser.get(f"/app/dispatch?report={desk.outside}", headers=HTML).status_code == 403
    assert _act(browser, desk.outside, action="accept").status_code == 403
    with desk.engine.connect() as conn:
        statuses = conn.execute(
            text("SELECT status FROM reports WHERE id IN (:a, :b)"),
            {"a": report_id, "b": desk.outside},
        ).scalars()
        assert set(statuses) == {"reported"}


def test_the_events_are_named_in_the_page_language_not_by_code(
    browser: TestClient, desk: Desk
) -> None:
    report_id = _report(desk.client)["id"]
    _sign_in(browser, "desk-dispatcher")
    assert _act(browser, report_id, action="accept").status_code == 303
    event = re.compile(r'<li data-action="(\w+)"><time>[^<]*</time> ([^<→]+?) → ([^<·]+?) ·')
    en = browser.get(f"/app/dispatch?report={report_id}&lang=en", headers=HTML)
    assert event.findall(en.text) == [
        ("report", "Report received", "reported"),
        ("accept", "Accepted", "accepted"),
    ]
    zh = browser.get(f"/app/dispatch?report={report_id}&lang=zh-CN", headers=HTML)
    assert event.findall(zh.text) == [
        ("report", "已收到上报", "已上报"),
        ("accept", "已受理", "已受理"),
    ]


def test_a_reports_photos_are_thumbnails_served_in_scope(browser: TestClient, desk: Desk) -> None:
    """The report's details show its photos as <img> of the same origin, which the signed-in
    dispatcher's session cookie fetches; the page's CSP allows them (img-src 'self')."""
    report_id = desk.reports[0]
    admin = account_headers(desk.engine, "desk-photo-admin", "admin", scope=desk.district)
    added = browser.post(
        f"/reports/{report_id}/photos", files=[SAMPLE_PHOTO, SAMPLE_PHOTO], headers=admin
    )
    assert added.status_code == 201, added.text
    browser.cookies.clear()
    _sign_in(browser, "desk-dispatcher")
    page = browser.get(f"/app/dispatch?lang=en&report={report_id}", headers=HTML)
    assert page.status_code == 200
    sources = re.findall(r'<img src="([^"]+)"', page.text)
    assert sources == [p["url"] for p in added.json()]
    assert "img-src 'self'" in page.headers["content-security-policy"]
    assert 'alt="Photo 1 of report' in page.text
    for url in sources:
        image = browser.get(url)  # the session cookie, as the browser sends it
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    # Another report without photos says so.
    other = browser.get(f"/app/dispatch?lang=en&report={desk.reports[1]}", headers=HTML)
    assert "No photo." in other.text and "<img" not in other.text
