"""The demo's open queue is current, and one rule of due and overdue holds for the report queue,
the KPIs and the patrol planner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from data import DEMO_DIR
from gis.city import demo_manifest
from gis.core.vocabulary import OPEN_STATUSES
from tests.accounts import account_headers
from tests.conftest import CATEGORIES, DEMO_LOADED_AT, demo_time, settings_for

# The README's team (section Patrols): one patroller from a point, two from service stations.
README_TEAM: list[dict[str, Any]] = [
    {
        "name": "Wang",
        "worker": "W-990101001001001",
        "start": {"lon": 104.05, "lat": 30.66},
        "shift_minutes": 240,
        "district": "990101",
    },
    {"name": "Li", "start": {"facility": "FAC-000005"}},
    {"name": "Zhao", "start": {"facility": "FAC-000010"}},
]


def test_demo_history_ends_when_it_was_loaded(shared_demo_engine: Engine) -> None:
    """The newest report is minutes old and the open queue is of the last days."""
    history = demo_manifest()["report_history"]
    written = pd.read_csv(DEMO_DIR / "reports.csv", dtype=str, keep_default_na=False)
    with shared_demo_engine.connect() as conn:
        newest, oldest_open, open_count = conn.execute(
            text(
                "SELECT max(reported_at), min(reported_at) FILTER (WHERE status = ANY(:open)), "
                "count(*) FILTER (WHERE status = ANY(:open)) FROM reports"
            ),
            {"open": list(OPEN_STATUSES)},
        ).one()
        first_written = conn.execute(
            text("SELECT reported_at FROM reports WHERE external_id = :id"),
            {"id": written["external_id"].iloc[0]},
        ).scalar_one()
    # Moved as a whole: the CSV's first report lands where demo_time says, the last one just
    # before the load, as far before it as before the history's end (as_of).
    assert first_written == demo_time(written["reported_at"].iloc[0])
    as_of = datetime.fromisoformat(history["as_of"])
    assert newest == demo_time(written["reported_at"].max()) < DEMO_LOADED_AT
    assert DEMO_LOADED_AT - newest == as_of - datetime.fromisoformat(written["reported_at"].max())
    assert open_count == history["open"] == written["status"].isin(OPEN_STATUSES).sum()
    assert 10 <= open_count <= 100  # a queue a city of this size has at any moment
    assert DEMO_LOADED_AT - oldest_open < timedelta(days=14)


def test_every_imported_report_has_its_category_deadlines(shared_demo_engine: Engine) -> None:
    with shared_demo_engine.connect() as conn:
        rows = pd.read_sql(
            text(
                "SELECT category, reported_at, due_arrival_at, due_resolution_at, arrived_at, "
                "resolved_at FROM reports"
            ),
            conn,
        )
    arrival = rows["category"].map({c: k.arrival_minutes for c, k in CATEGORIES.items()})
    resolution = rows["category"].map({c: k.resolution_minutes for c, k in CATEGORIES.items()})
    assert rows["due_arrival_at"].notna().all() and rows["due_resolution_at"].notna().all()
    assert (rows["due_arrival_at"] - rows["reported_at"] == pd.to_timedelta(arrival, "m")).all()
    expected = pd.to_timedelta(resolution, "m")
    assert (rows["due_resolution_at"] - rows["reported_at"] == expected).all()
    # The history keeps each report's steps, so on-time rates mean something for it.
    closed = rows[rows["resolved_at"].notna()]
    on_time = (closed["arrived_at"] <= closed["due_arrival_at"]).mean()
    assert 0.7 < on_time < 1.0


@pytest.fixture
def demo_client(demo_engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    headers = account_headers(demo_engine, "chief", "admin")
    with TestClient(create_app(settings_for(demo_engine), engine=demo_engine)) as client:
        yield client, headers


def _plan(client: TestClient, headers: dict[str, str], **request: Any) -> dict[str, Any]:
    response = client.post("/patrols/plan", headers=headers, json=request)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _served(plan: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {
        int(stop["ref"]): stop
        for route in plan["routes"]
        for stop in route["stops"]
        if stop["kind"] == "report"
    }


def test_queue_kpis_and_planner_agree_on_an_overdue_report(
    demo_client: tuple[TestClient, dict[str, str]], demo_engine: Engine
) -> None:
    client, headers = demo_client
    now = datetime.now(UTC)
    # One report of the history that nobody reached (reported an hour ago), one on site and
    # still within its resolution deadline: overdue and not, by the same rule everywhere.
    with demo_engine.begin() as conn:
        late_id, fine_id = conn.execute(
            text(
                """
                UPDATE reports SET status = 'reported', arrived_at = NULL, resolved_at = NULL,
                    reported_at = :at, due_arrival_at = :at + interval '10 minutes',
                    due_resolution_at = :at + interval '60 minutes', closed_at = NULL
                WHERE id = (SELECT min(id) FROM reports WHERE grid_code = '990101001001001')
                RETURNING id, (SELECT min(id) FROM reports WHERE status = 'in_progress'
                               AND grid_code LIKE '990101%')
                """
            ),
            {"at": now - timedelta(hours=1)},
        ).one()
    queue = client.get("/reports", params={"overdue": "true", "limit": 1000}).json()
    overdue_ids = {f["id"] for f in queue["features"]}
    assert late_id in overdue_ids and fine_id not in overdue_ids
    kpis = client.get("/analytics/kpis", params={"level": "grid"}).json()["units"]
    per_grid = {u["grid"]: u["overdue"] for u in kpis}
    in_grid = client.get(
        "/reports", params={"overdue": "true", "grid": "990101001001001", "limit": 1000}
    ).json()
    assert per_grid["990101001001001"] == in_grid["numberMatched"] >= 1
    assert sum(per_grid.values()) == queue["numberMatched"]

    plan = _plan(
        client,
        headers,
        start_at=now.isoformat(),
        time_limit_s=2,
        patrollers=README_TEAM[:1],
        stops={"open_reports": True, "districts": ["990101"]},
    )
    served = _served(plan)
    assert late_id in served, [stop["reason"] for stop in plan["unserved"]]
    assert served[late_id]["late"] is True
    assert served[late_id]["due_at"] is not None
    assert fine_id in served and served[fine_id]["late"] is False


def test_a_plan_of_the_demo_queue_with_the_readme_team_is_mostly_on_time(
    demo_client: tuple[TestClient, dict[str, str]], demo_engine: Engine
) -> None:
    client, headers = demo_client
    with demo_engine.connect() as conn:
        open_ids = set(
            conn.execute(
                text("SELECT id FROM reports WHERE status = ANY(:open)"),
                {"open": list(OPEN_STATUSES)},
            )
            .scalars()
            .all()
        )
    plan = _plan(
        client,
        headers,
        start_at=datetime.now(UTC).isoformat(),
        time_limit_s=3,
        patrollers=README_TEAM,
        stops={"open_reports": True, "districts": ["990101", "990102", "990103"]},
    )
    served = _served(plan)
    assert set(served) <= open_ids
    assert len(served) >= 0.9 * len(open_ids)
    late = [s for s in served.values() if s["late"]]
    assert len(late) <= 0.1 * len(served)
