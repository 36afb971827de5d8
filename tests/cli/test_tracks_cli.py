"""``gridpatrol load FILE --layer tracks``: the same file twice is one track, and a file over
``GRIDPATROL_MAX_TRACK_BYTES`` is refused before it is parsed, storing nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_track_file_is_loaded_once_and_an_oversized_one_refused(
    city_engine: Engine,
    use_database: Callable[[Engine], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_database(city_engine)
    planned = runner.invoke(
        app,
        [
            "plan-patrols",
            "--patroller",
            "Wang@104.05,30.66",
            "--facility",
            "checkpoint",
            "--time-limit-s",
            "1",
            "--start-at",
            "2026-11-24T18:00:00+08:00",
            "--json",
        ],
    )
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    route = next(r for r in plan["routes"] if r["geometry"])
    t0 = datetime.fromisoformat("2026-11-24T18:00:00+08:00")
    points = "".join(
        f'<trkpt lat="{lat}" lon="{lon}"><time>{(t0 + timedelta(seconds=30 * k)).isoformat()}'
        "</time></trkpt>"
        for k, (lon, lat) in enumerate(route["geometry"]["coordinates"])
    )
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(f"<gpx><trk><trkseg>{points}</trkseg></trk></gpx>", encoding="utf-8")
    load = ["load", str(gpx), "--layer", "tracks", "--patrol", str(plan["id"])]
    first = runner.invoke(app, [*load, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["already_stored"] is False
    again = runner.invoke(app, load)
    assert again.exit_code == 0, again.output
    assert "stored for plan" in again.output and "nothing stored again" in again.output
    assert _count(city_engine, "patrol_tracks") == 1

    # Over the limit: refused by size (the file is not valid GPX either, and is not parsed).
    monkeypatch.setenv("GRIDPATROL_MAX_TRACK_BYTES", "2048")
    use_database(city_engine)
    big = tmp_path / "big.gpx"
    big.write_bytes(b"<gpx>" + b"<trk>" * 2000)
    refused = runner.invoke(
        app, ["load", str(big), "--layer", "tracks", "--patrol", str(plan["id"])]
    )
    assert refused.exit_code == 2, refused.output
    assert "larger than 2,048 bytes" in " ".join(refused.output.split())
    assert _count(city_engine, "patrol_tracks") == 1
