"""The resident's pages without a browser: the form goes through the intake, the follow-up
link's token is stored only as its hash, the rating is taken once after closing and counted
in the KPIs, and every bad input is refused with a clear message and nothing stored."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from shapely import wkb
from shapely.geometry import Point
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import account_headers, page_csrf_token
from tests.conftest import settings_for
from tests.endpoints import INLAND

HTML = {"Accept": "text/html"}
REPORT = {"category": "sanitation", "description": "bins overflowing by the gate"}


@dataclass
class Desk:
    client: TestClient
    engine: Engine
    dispatcher: dict[str, str]

    def counts(self) -> tuple[int, ...]:
        with self.engine.connect() as conn:
            return tuple(
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM reports), "
                        "(SELECT count(*) FROM report_followups), "
                        "(SELECT count(*) FROM report_followups WHERE rated_at IS NOT NULL)"
                    )
                ).one()
            )


@pytest.fixture(scope="module")
def desk(pg_server: object, templates: dict[str, str]) -> Iterator[Desk]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["city"]):  # type: ignore[arg-type]
        dispatcher = account_headers(engine, "desk-admin", "admin", scope="990101")
        app = create_app(settings_for(engine), engine=engine)
        with TestClient(app, follow_redirects=False) as client:
            yield Desk(client, engine, dispatcher)


def _send(desk: Desk, **fields: Any) -> Any:
    desk.client.cookies.clear()
    token = page_csrf_token(desk.client, "/app/report")
    data = {"csrf_token": token, "lat": str(INLAND["lat"]), "lon": str(INLAND["lon"])}
    return desk.client.post("/app/report", data=data | REPORT | fields, headers=HTML)


def _token(response: Any) -> str:
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    path = urlsplit(location).path
    assert path.startswith("/app/follow/")
    return path.removeprefix("/app/follow/")


def _grid_containing(engine: Engine, lat: float, lon: float) -> str:
    """The grid whose polygon contains the point, by shapely (not PostGIS)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, ST_AsBinary(geom) FROM grids")).all()
    found = [code for code, geom in rows if wkb.loads(bytes(geom)).contains(Point(lon, lat))]
    assert len(found) == 1, found
    return str(found[0])


def _close(desk: Desk, report_id: int) -> None:
    with desk.engine.connect() as conn:
        worker_id = conn.execute(
            text(
                "SELECT wg.worker_id FROM worker_grids wg JOIN reports r "
                "ON r.grid_code = wg.grid_code WHERE r.id = :id LIMIT 1"
            ),
            {"id": report_id},
        ).scalar_one()
    for step in (
        {"action": "accept"},
        {"action": "dispatch", "worker_id": worker_id},
        {"action": "arrive"},
        {"action": "resolve", "note": "cleared"},
        {"action": "verify"},
        {"action": "close"},
    ):
        moved = desk.client.post(
            f"/reports/{report_id}/transitions", json=step, headers=desk.dispatcher
        )
        assert moved.status_code == 200, moved.text


def test_a_report_sent_from_the_form_gets_a_private_link(desk: Desk) -> None:
    before = desk.counts()
    token = _token(_send(desk, reporter_name="Li Na", reporter_phone="13800001111"))
    assert len(token) >= 40
    with desk.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.id, r.grid_code, r.reporter_name, r.reporter_phone, r.category, "
                "f.token_sha256 FROM reports r JOIN report_followups f ON f.report_id = r.id "
                "ORDER BY r.id DESC LIMIT 1"
            )
        ).one()
        stored = conn.execute(text("SELECT * FROM report_followups")).all()
    assert desk.counts()[:2] == (before[0] + 1, before[1] + 1)
    # Only the hash is kept: the token is nowhere in the table.
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(tuple(r)) for r in stored)
    assert row.grid_code == _grid_containing(desk.engine, INLAND["lat"], INLAND["lon"])
    assert (row.reporter_name, row.reporter_phone) == ("Li Na", "13800001111")
    page = desk.client.get(f"/app/follow/{token}", params={"sent": "1"}, headers=HTML)
    assert page.status_code == 200
    assert f"第 {row.id} 号上报" in page.text and "已接收" in page.text
    # The follow-up page shows no personal data, no worker, no actor.
    assert "Li Na" not in page.text and "13800001111" not in page.text
    assert "Content-Security-Policy" in page.headers


def test_the_form_replays_its_idempotency_key(desk: Desk) -> None:
    first = _token(_send(desk, idempotency_key="same-form-1"))
    before = desk.counts()
    second = _token(_send(desk, idempotency_key="same-form-1"))
    assert desk.counts() == before  # the same report: nothing new stored
    assert first != second
    # The latest answer's link is the report's link; the first one no longer opens it.
    assert desk.client.get(f"/app/follow/{second}", headers=HTML).status_code == 200
    assert desk.client.get(f"/app/follow/{first}", headers=HTML).status_code == 404
    # The same key with another report: refused, nothing stored.
    other = _send(desk, idempotency_key="same-form-1", description="another thing")
    assert other.status_code == 409 and "另一条上报" in other.text
    assert desk.counts() == before


def test_the_rating_is_taken_once_after_closing_and_counted(desk: Desk) -> None:
    token = _token(_send(desk))
    with desk.engine.connect() as conn:
        report_id, grid = conn.execute(
            text(
                "SELECT report_id, grid_code FROM report_followups f JOIN reports r "
                "ON r.id = f.report_id WHERE token_sha256 = :h"
            ),
            {"h": hashlib.sha256(token.encode()).hexdigest()},
        ).one()
    csrf = page_csrf_token(desk.client, "/app/report")
    early = desk.client.post(
        f"/app/follow/{token}", data={"csrf_token": csrf, "satisfied": "yes"}, headers=HTML
    )
    assert early.status_code == 409 and "尚未办结" in early.text
    _close(desk, report_id)
    page = desk.client.get(f"/app/follow/{token}", params={"lang": "en"}, headers=HTML)
    assert "Closed" in page.text and 'name="satisfied"' in page.text
    assert "cleared" not in page.text and "desk-admin" not in page.text
    unchosen = desk.client.post(f"/app/follow/{token}", data={"csrf_token": csrf}, headers=HTML)
    assert unchosen.status_code == 400
    rated = desk.client.post(
        f"/app/follow/{token}",
        data={"csrf_token": csrf, "satisfied": "no", "note": "came late"},
        headers=HTML,
    )
    assert rated.status_code == 303
    before = desk.counts()
    again = desk.client.post(
        f"/app/follow/{token}", data={"csrf_token": csrf, "satisfied": "yes"}, headers=HTML
    )
    assert again.status_code == 409 and "只能评价一次" in again.text
    assert desk.counts() == before
    with desk.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT satisfied, rating_note FROM report_followups WHERE report_id = :id"),
            {"id": report_id},
        ).one()
    assert tuple(stored) == (False, "came late")
    shown = desk.client.get(f"/app/follow/{token}", headers=HTML).text
    assert "不满意" in shown and "came late" in shown and 'name="satisfied"' not in shown
    # 满意率 in the KPIs: the grid's rated reports, satisfied ones among them (here: none).
    units = desk.client.get("/analytics/kpis", params={"level": "grid"}).json()["units"]
    (unit,) = [u for u in units if u["grid"] == grid]
    with desk.engine.connect() as conn:
        rated_n, satisfied_n = conn.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE satisfied) FROM report_followups f "
                "JOIN reports r ON r.id = f.report_id "
                "WHERE r.grid_code = :g AND f.satisfied IS NOT NULL"
            ),
            {"g": grid},
        ).one()
    assert unit["rated"] == rated_n >= 1
    assert unit["satisfaction_rate"] == round(satisfied_n / rated_n, 4)


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"category": "unicorns"}, 400, "请从列表中选择类别"),
        ({"description": "   "}, 400, "请描述问题"),
        ({"lat": "north"}, 400, "请提供地点"),
        ({"lon": "400"}, 400, "经度必须在"),
        # The sea off the demo city: outside every district.
        ({"lat": "0.5", "lon": "0.5"}, 400, "不在本市任何辖区内"),
        ({"csrf_token": "forged"}, 403, "此表单已过期"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(
    desk: Desk, fields: dict[str, str], status: int, message: str
) -> None:
    before = desk.counts()
    response = _send(desk, **fields)
    assert response.status_code == status, response.text
    assert message in response.text
    assert 'role="alert"' in response.text
    # The form comes back with what was typed.
    assert REPORT["description"] in response.text or fields.get("description") == "   "
    assert desk.counts() == before


def test_a_bad_link_is_a_clear_404(desk: Desk) -> None:
    before = desk.counts()
    for token in ("not-a-token", "x" * 100):
        page = desk.client.get(f"/app/follow/{token}", headers=HTML)
        assert page.status_code == 404
        assert "没有与此跟进链接对应的上报" in page.text
        csrf = page_csrf_token(desk.client, "/app/report")
        posted = desk.client.post(
            f"/app/follow/{token}", data={"csrf_token": csrf, "satisfied": "yes"}, headers=HTML
        )
        assert posted.status_code == 404
    assert desk.client.get(f"/app/follow/{'x' * 101}", headers=HTML).status_code == 422
    assert desk.counts() == before


def test_the_form_shows_each_category_with_its_deadline(desk: Desk) -> None:
    page = desk.client.get("/app/report", headers=HTML)
    assert page.status_code == 200
    assert re.search(r"环境卫生 — 10分钟内到场，1小时内办结", page.text), page.text
    english = desk.client.get("/app/report", params={"lang": "en"}, headers=HTML).text
    assert "Sanitation — on site within 10 minutes, solved within 1 hour" in english
    for control in ("lat", "lon", "category", "description", "reporter_name", "reporter_phone"):
        assert f'<label for="{control}">' in page.text
