"""One zone for every time a person or a client reads: a plan's times carry the offset of
GRIDPATROL_TIMEZONE on POST, GET and the list whatever offset the request used, and the CLI
prints them in that zone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app as cli_app
from tests.accounts import account_headers
from tests.conftest import settings_for

# 18:00 in Chengdu, given in UTC: the answer must not echo the request's offset.
START_UTC = "2026-11-24T10:00:00Z"
PLAN = {
    "name": "zone patrol",
    "start_at": START_UTC,
    "time_limit_s": 0.2,
    "patrollers": [{"name": "Wang", "start": {"lon": 104.05, "lat": 30.66}}],
    "stops": {"points": [{"lon": 104.053, "lat": 30.66, "label": "gate"}]},
}


def _offset(zone: str, at: str = START_UTC) -> str:
    """The ISO 8601 offset ``zone`` has at ``at``, from zoneinfo (not from the code)."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return moment.isoformat()[-6:]


def _times(plan: dict[str, Any]) -> list[str]:
    routes = plan["routes"]
    stops = [s for r in routes for s in r["stops"]]
    found = [plan["start_at"], plan["created_at"]]
    found += [r[k] for r in routes for k in ("depart_at", "return_at")]
    found += [s[k] for s in stops for k in ("arrive_at", "depart_at") if s[k]]
    return found


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_a_plan_has_one_offset_on_post_get_and_list(city_engine: Engine, zone: str) -> None:
    admin = account_headers(city_engine, "zone-admin", "admin")
    app = create_app(settings_for(city_engine, timezone=zone), engine=city_engine)
    offset = _offset(zone)
    with TestClient(app, headers=admin) as client:
        posted = client.post("/patrols/plan", json=PLAN)
        assert posted.status_code == 201, posted.text
        plan = posted.json()
        got = client.get(f"/patrols/{plan['id']}").json()
        listed = client.get("/patrols").json()["plans"]
    (summary,) = [p for p in listed if p["id"] == plan["id"]]
    times = _times(plan)
    assert len(times) >= 6 and all(t.endswith(offset) for t in times), times
    # The same instant as asked, written in the configured zone.
    assert datetime.fromisoformat(plan["start_at"]) == datetime.fromisoformat(
        START_UTC.replace("Z", "+00:00")
    )
    assert _times(got) == times
    assert (summary["start_at"], summary["created_at"]) == (plan["start_at"], plan["created_at"])


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_the_cli_prints_the_configured_zone(
    city_engine: Engine,
    use_database: Callable[[Engine], None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    zone: str,
) -> None:
    use_database(city_engine)
    monkeypatch.setenv("GRIDPATROL_TIMEZONE", zone)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(PLAN), encoding="utf-8")
    runner = CliRunner()
    table = runner.invoke(cli_app, ["plan-patrols", str(request)], terminal_width=200)
    assert table.exit_code == 0, table.output
    local = datetime.fromisoformat(START_UTC.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    assert f"starting {local.isoformat()} ({zone})" in table.output, table.output
    as_json = runner.invoke(cli_app, ["plan-patrols", str(request), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert all(t.endswith(_offset(zone)) for t in _times(json.loads(as_json.stdout))), (
        as_json.output[:300]
    )
