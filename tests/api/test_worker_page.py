"""The grid worker's page (``/app/worker``) through the app: who may open it, the reports
dispatched to the signed-in worker only, arrive then resolve from the page's forms (the CSRF
token required, a note required), a stale form answered with what happened (409), a care
visit recorded, and today's published route with its stops in the plan's stored order."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import PASSWORD, account_headers, page_csrf_token
from tests.conftest import settings_for
from tests.endpoints import INLAND

HTML = {"Accept": "text/html,application/xhtml+xml"}
CARD = re.compile(r'<li class="card( overdue)?" id="report-(\d+)" data-report="\d+"')
STOP = re.compile(r'<li data-seq="(\d+)" data-kind="(\w+)" data-ref="([^"]*)"')
HOUSEHOLD = "A-PAGE-0001"


@dataclass
class Field:
    client: TestClient
    engine: Engine
    worker_id: int
    worker_code: str
    mine: list[int]
    others: int
    plan_id: int
    dispatcher: dict[str, str]
    me: dict[str, str]


def _report(client: TestClient) -> int:
    body = {"category": "sanitation", "description": "worker page test", **INLAND}
    created = client.post("/reports", json=body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _dispatch(client: TestClient, headers: dict[str, str], rid: int, worker_id: int) -> None:
    for step in ({"action": "accept"}, {"action": "dispatch", "worker_id": worker_id}):
        moved = client.post(f"/reports/{rid}/transitions", json=step, headers=headers)
        assert moved.status_code == 200, moved.text


def _jpeg(colour: tuple[int, int, int] = (40, 160, 60)) -> bytes:
    """A small JPEG photo, as a phone's camera would send one."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def field(
    pg_server: object, templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Field]:
    from tests.conftest import fresh_database

    photos = tmp_path_factory.mktemp("photos")
    for engine in fresh_database(pg_server, templates["demo"]):  # type: ignore[arg-type]
        app = create_app(settings_for(engine, photo_dir=photos), engine=engine)
        with TestClient(app, follow_redirects=False) as client:
            first = _report(client)
            with engine.begin() as conn:
                grid, district = conn.execute(
                    text("SELECT grid_code, district_code FROM reports WHERE id = :id"),
                    {"id": first},
                ).one()
                workers = conn.execute(
                    text(
                        "SELECT w.id, w.code FROM workers w JOIN worker_grids wg "
                        "ON wg.worker_id = w.id WHERE wg.grid_code = :g ORDER BY w.id"
                    ),
                    {"g": grid},
                ).all()
                # Nothing else open for the grid's workers: the page lists this test's reports.
                conn.execute(
                    text(
                        "UPDATE reports SET status = 'closed' WHERE id <> :id "
                        "AND status IN ('dispatched', 'in_progress')"
                    ),
                    {"id": first},
                )
                conn.execute(
                    text(
                        "INSERT INTO households (code, building_id, unit, head_name, phone, "
                        "members, care) SELECT :code, id, '3-201', 'Zhou Lan', '13900001234', 1, "
                        "ARRAY['elderly_alone'] FROM buildings WHERE grid_code = :g "
                        "ORDER BY code LIMIT 1"
                    ),
                    {"code": HOUSEHOLD, "g": grid},
                )
            assert len(workers) >= 2, "the demo grid needs two workers"
            (worker_id, worker_code), (other_id, other_code) = workers[0], workers[1]
            dispatcher = account_headers(engine, "field-dispatcher", "dispatcher", scope=district)
            me = account_headers(engine, "field-worker", "worker", worker=worker_code)
            account_headers(engine, "field-colleague", "worker", worker=other_code)
            mine = [first, _report(client), _report(client)]
            for rid in mine:
                _dispatch(client, dispatcher, rid, worker_id)
            others = _report(client)
            _dispatch(client, dispatcher, others, other_id)
            with engine.begin() as conn:
                # The last one's arrival deadline passed an hour ago: it leads the list.
                conn.execute(
                    text(
                        "UPDATE reports SET due_arrival_at = now() - interval '1 hour' "
                        "WHERE id = :id"
                    ),
                    {"id": mine[-1]},
                )
            plan = {
                "name": "today's round",
                "start_at": datetime.now(UTC).isoformat(),
                "time_limit_s": 0.5,
                "patrollers": [
                    {
                        "name": "Field",
                        "worker": worker_code,
                        "start": {"lon": INLAND["lon"], "lat": INLAND["lat"]},
                    }
                ],
                "stops": {
                    "points": [
                        {"lon": INLAND["lon"] + dx, "lat": INLAND["lat"] + dy, "label": label}
                        for dx, dy, label in (
                            (0.003, 0.0, "east gate"),
                            (0.0, 0.002, "north market"),
                            (-0.002, -0.001, "school"),
                        )
                    ]
                },
            }
            planned = client.post("/patrols/plan", json=plan, headers=dispatcher)
            assert planned.status_code == 201, planned.text
            plan_id = int(planned.json()["id"])
            published = client.post(f"/patrols/{plan_id}/publish", headers=dispatcher)
            assert published.status_code == 200, published.text
            yield Field(
                client, engine, worker_id, worker_code, mine, others, plan_id, dispatcher, me
            )


@pytest.fixture
def browser(field: Field) -> Iterator[TestClient]:
    field.client.cookies.clear()
    yield field.client
    field.client.cookies.clear()


def _sign_in(client: TestClient, name: str) -> None:
    token = page_csrf_token(client)
    done = client.post(
        "/app/login", data={"username": name, "password": PASSWORD, "csrf_token": token}
    )
    assert done.status_code == 303, done.text


def _form(page: str, report_id: int, action: str) -> dict[str, str]:
    """The hidden fields of a report's action form as the page shows it."""
    card = page.split(f'id="report-{report_id}"', 1)[1].split("</li>", 1)[0]
    form = card.split(f'data-action="{action}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def _status(engine: Engine, report_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT status FROM reports WHERE id = :id"), {"id": report_id}
            ).scalar_one()
        )


def test_anonymous_is_sent_to_sign_in_and_others_are_refused(browser: TestClient) -> None:
    page = browser.get("/app/worker?lang=en", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/app/login?next=%2Fapp%2Fworker%3Flang%3Den"
    _sign_in(browser, "field-dispatcher")
    refused = browser.get("/app/worker?lang=en", headers=HTML)
    assert refused.status_code == 403 and "Not allowed" in refused.text
    assert "dispatcher role may not" in refused.text


def test_a_worker_sees_only_the_reports_dispatched_to_them(
    browser: TestClient, field: Field
) -> None:
    _sign_in(browser, "field-worker")
    page = browser.get("/app/worker?lang=en", headers=HTML)
    assert page.status_code == 200 and "My open reports" in page.text
    cards = [(int(rid), bool(late)) for late, rid in CARD.findall(page.text)]
    with field.engine.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT id, COALESCE(due_arrival_at < now(), false) AS overdue FROM reports "
                "WHERE worker_id = :w AND status IN ('dispatched', 'in_progress') "
                "ORDER BY 2 DESC, due_arrival_at, id"
            ),
            {"w": field.worker_id},
        ).all()
    assert cards == [(r.id, r.overdue) for r in expected]
    assert {rid for rid, _ in cards} == set(field.mine)
    assert cards[0] == (field.mine[-1], True) and "overdue by 1 h" in page.text
    assert field.others not in {rid for rid, _ in cards}
    # Each dispatched report offers exactly the action allowed now: arrive.
    actions = re.findall(r'class="action" data-action="(\w+)"', page.text)
    assert actions == ["arrive"] * len(cards)
    zh = browser.get("/app/worker", headers=HTML)
    assert "我的待办" in zh.text and "超时" in zh.text
    # The colleague sees theirs, not these.
    browser.cookies.clear()
    _sign_in(browser, "field-colleague")
    theirs = browser.get("/app/worker?lang=en", headers=HTML)
    assert [int(r) for _, r in CARD.findall(theirs.text)] == [field.others]


def test_arrive_then_resolve_with_a_note_from_the_page(browser: TestClient, field: Field) -> None:
    _sign_in(browser, "field-worker")
    rid = field.mine[0]
    page = browser.get("/app/worker?lang=en", headers=HTML).text
    done = browser.post(f"/app/worker/reports/{rid}?lang=en", data=_form(page, rid, "arrive"))
    assert done.status_code == 303
    assert done.headers["location"].startswith("/app/worker?lang=en&done=")
    assert _status(field.engine, rid) == "in_progress"
    page = browser.get("/app/worker?lang=en", headers=HTML).text
    card = page.split(f'id="report-{rid}"', 1)[1].split("</li>", 1)[0]
    assert re.findall(r'data-action="(\w+)"', card) == ["resolve"]
    fields = _form(page, rid, "resolve")
    # Without a note: not done, and the page says why.
    no_note = browser.post(f"/app/worker/reports/{rid}?lang=en", data=fields)
    assert no_note.status_code == 422 and "needs a note" in no_note.text
    assert _status(field.engine, rid) == "in_progress"
    assert 'name="photo" accept="image/jpeg,image/png" capture="environment"' in page
    # A photo that is no JPEG or PNG: refused, and the report stays as it was.
    refused = browser.post(
        f"/app/worker/reports/{rid}?lang=en",
        data={**fields, "note": "bins emptied"},
        files={"photo": ("after.gif", b"GIF89a" + b"\x00" * 64, "image/gif")},
    )
    assert refused.status_code == 422 and "after.gif" in refused.text
    assert _status(field.engine, rid) == "in_progress"
    resolved = browser.post(
        f"/app/worker/reports/{rid}?lang=en",
        data={**fields, "note": "bins emptied, area swept"},
        files={"photo": ("after.jpg", _jpeg(), "image/jpeg")},
    )
    assert resolved.status_code == 303
    with field.engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT action, actor, note FROM report_events WHERE report_id = :id "
                "AND action IN ('arrive', 'resolve') ORDER BY id"
            ),
            {"id": rid},
        ).all()
    assert [tuple(e) for e in events] == [
        ("arrive", "field-worker", None),
        ("resolve", "field-worker", "bins emptied, area swept"),
    ]
    assert _status(field.engine, rid) == "resolved"
    with field.engine.connect() as conn:
        photo = conn.execute(
            text(
                "SELECT p.source, p.content_type, e.action, u.name FROM report_photos p "
                "JOIN report_events e ON e.id = p.event_id JOIN users u ON u.id = p.account_id "
                "WHERE p.report_id = :id"
            ),
            {"id": rid},
        ).one()
    assert tuple(photo) == ("worker", "image/jpeg", "resolve", "field-worker")
    after = browser.get("/app/worker?lang=en", headers=HTML).text
    assert rid not in {int(r) for _, r in CARD.findall(after)}


def test_a_cross_site_post_with_the_cookie_but_no_token_is_refused(
    browser: TestClient, field: Field
) -> None:
    _sign_in(browser, "field-worker")
    rid = field.mine[1]
    for form in ({"action": "arrive"}, {"action": "arrive", "csrf_token": "forged"}):
        refused = browser.post(f"/app/worker/reports/{rid}", data=form)
        assert refused.status_code == 403
        assert "csrf" in refused.json()["detail"]
    visit = browser.post(
        f"/app/worker/households/{HOUSEHOLD}/visits", data={"outcome": "met", "csrf_token": "x"}
    )
    assert visit.status_code == 403
    assert _status(field.engine, rid) == "dispatched"


def test_a_stale_form_shows_what_happened(browser: TestClient, field: Field) -> None:
    _sign_in(browser, "field-worker")
    rid = field.mine[1]
    page = browser.get("/app/worker?lang=en", headers=HTML).text
    fields = _form(page, rid, "arrive")
    # Meanwhile the arrival is recorded from the phone app (the API, the same account).
    moved = browser.post(f"/reports/{rid}/transitions", json={"action": "arrive"}, headers=field.me)
    assert moved.status_code == 200, moved.text
    stale = browser.post(f"/app/worker/reports/{rid}?lang=en", data=fields)
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("text/html")
    assert f"Report {rid} changed before your action reached it" in stale.text
    assert "in progress" in stale.text and 'role="alert"' in stale.text
    card = stale.text.split(f'id="report-{rid}"', 1)[1].split("</li>", 1)[0]
    assert re.findall(r'data-action="(\w+)"', card) == ["resolve"]
    with field.engine.connect() as conn:
        arrivals = conn.execute(
            text("SELECT count(*) FROM report_events WHERE report_id = :id AND action = 'arrive'"),
            {"id": rid},
        ).scalar_one()
    assert arrivals == 1


def test_bad_input_is_named_and_changes_nothing(browser: TestClient, field: Field) -> None:
    _sign_in(browser, "field-worker")
    rid = field.mine[2]
    token = page_csrf_token(browser, "/app/worker")
    other = browser.post(
        f"/app/worker/reports/{rid}?lang=en", data={"action": "accept", "csrf_token": token}
    )
    assert other.status_code == 422 and "this page takes arrive or resolve" in other.text
    assert browser.get("/app/worker?page=0", headers=HTML).status_code == 422
    missing = browser.post(
        "/app/worker/reports/999999999", data={"action": "arrive", "csrf_token": token}
    )
    assert missing.status_code == 404
    bad = browser.post(
        f"/app/worker/households/{HOUSEHOLD}/visits?lang=en",
        data={"outcome": "asleep", "csrf_token": token},
    )
    assert bad.status_code == 422 and "outcome: expected one of" in bad.text
    assert _status(field.engine, rid) == "dispatched"


def test_a_care_visit_is_recorded_from_the_page(browser: TestClient, field: Field) -> None:
    _sign_in(browser, "field-worker")
    page = browser.get("/app/worker?lang=en", headers=HTML).text
    assert f'data-household="{HOUSEHOLD}"' in page and "Zhou Lan" in page
    token = page_csrf_token(browser, "/app/worker")
    done = browser.post(
        f"/app/worker/households/{HOUSEHOLD}/visits?lang=en",
        data={"outcome": "met", "note": "well, brought rice", "csrf_token": token},
    )
    assert done.status_code == 303, done.text
    with field.engine.connect() as conn:
        visit = conn.execute(
            text(
                "SELECT v.outcome, v.note, v.worker, v.recorded_by, v.visited_at "
                "FROM household_visits v JOIN households h ON h.id = v.household_id "
                "WHERE h.code = :code"
            ),
            {"code": HOUSEHOLD},
        ).one()
    assert tuple(visit)[:4] == ("met", "well, brought rice", field.worker_code, "field-worker")
    assert abs((datetime.now(UTC) - visit.visited_at).total_seconds()) < 120
    # Met now: no longer due within the week.
    after = browser.get(done.headers["location"], headers=HTML).text
    assert f'data-household="{HOUSEHOLD}"' not in after
    assert f"Visit to {HOUSEHOLD} recorded." in after


def test_todays_route_lists_the_stops_in_the_plans_order(browser: TestClient, field: Field) -> None:
    _sign_in(browser, "field-worker")
    page = browser.get("/app/worker?lang=en", headers=HTML).text
    shown = [(int(seq), kind, ref) for seq, kind, ref in STOP.findall(page)]
    with field.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT s.seq, s.kind, s.ref FROM patrol_stops s "
                "JOIN patrol_routes r ON r.id = s.route_id "
                "WHERE r.plan_id = :p AND r.worker_id = :w ORDER BY s.seq"
            ),
            {"p": field.plan_id, "w": field.worker_id},
        ).all()
        route_seq = conn.execute(
            text("SELECT seq FROM patrol_routes WHERE plan_id = :p AND worker_id = :w"),
            {"p": field.plan_id, "w": field.worker_id},
        ).scalar_one()
    assert len(stored) == 3
    assert shown == [tuple(s) for s in stored]
    assert f'data-track-url="/patrols/{field.plan_id}/track?route={route_seq}"' in page
    assert 'id="route-map"' in page and "today&#39;s round" in page
    # The colleague has no route published today.
    browser.cookies.clear()
    _sign_in(browser, "field-colleague")
    theirs = browser.get("/app/worker?lang=en", headers=HTML).text
    assert "No patrol route is published to you for today." in theirs
    assert 'id="route-map"' not in theirs


def test_an_admin_sees_the_page_without_reports_of_its_own(field: Field) -> None:
    client = field.client
    client.cookies.clear()
    account_headers(field.engine, "field-admin", "admin")
    _sign_in(client, "field-admin")
    page = client.get("/app/worker?lang=en", headers=HTML)
    assert page.status_code == 200
    assert "not linked to a grid worker" in page.text
    assert CARD.findall(page.text) == []
    client.cookies.clear()
