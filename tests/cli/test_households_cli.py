"""``gridpatrol load households.csv --layer households`` and ``purge-households`` through the
real CLI (a subprocess on its own database)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text

from tests.cli.process import run_gridpatrol

HEADER = "code,building,unit,head_name,phone,members,care,visit_every_days,moved_out\n"


def test_load_and_purge_households(demo_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "households.csv"
    path.write_text(
        HEADER
        + "X-STAY,BLD-0000010,101,Stay Wu,13100000001,2,disabled,,\n"
        + "X-GONE,BLD-0000010,102,Gone Qian,13100000002,1,elderly_alone,,2026-01-15\n",
        encoding="utf-8",
    )
    ok = run_gridpatrol(demo_engine, "load", str(path), "--layer", "households", "--json")
    assert ok.returncode == 0, ok.stderr
    loaded = json.loads(ok.stdout)[0]
    assert (loaded["layer"], loaded["inserted"], loaded["updated"]) == ("households", 2, 0)
    bad_path = tmp_path / "bad.csv"
    bad_path.write_text(HEADER + "X-NEW,BLD-NOPE,1,a,,1,lonely,,\n", encoding="utf-8")
    bad = run_gridpatrol(demo_engine, "load", str(bad_path), "--layer", "households")
    assert bad.returncode == 2
    assert "row 2 (X-NEW): building 'BLD-NOPE' not found" in bad.stderr
    assert "unknown care flag(s) 'lonely'" in bad.stderr
    with demo_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO household_visits (household_id, visited_at, outcome, note) "
                "SELECT id, '2026-01-10T10:00:00+08:00', 'met', 'private note' "
                "FROM households WHERE code LIKE 'X-%'"
            )
        )
    # Moved out on 15 January (local midnight): kept before, purged after.
    early = run_gridpatrol(
        demo_engine, "purge-households", "--moved-out-before", "2026-01-15", "--json"
    )
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout)["households"] == 0
    purged = run_gridpatrol(
        demo_engine, "purge-households", "--moved-out-before", "2026-01-16", "--json"
    )
    assert purged.returncode == 0, purged.stderr
    result = json.loads(purged.stdout)
    assert (result["households"], result["visit_notes"]) == (1, 1)
    assert result["moved_out_before"] == "2026-01-16T00:00:00+08:00"
    with demo_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT h.code, h.head_name, h.phone, h.care, v.note, v.outcome "
                "FROM households h JOIN household_visits v ON v.household_id = h.id "
                "WHERE h.code LIKE 'X-%' ORDER BY h.code"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("X-GONE", None, None, [], None, "met"),
        ("X-STAY", "Stay Wu", "13100000001", ["disabled"], "private note", "met"),
    ]
    refused = run_gridpatrol(demo_engine, "purge-households", "--moved-out-before", "soon")
    assert refused.returncode == 2 and "moved-out-before" in refused.stderr
