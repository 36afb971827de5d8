"""``gridpatrol load FILE.csv --layer workers`` through the real CLI (a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text

from tests.cli.process import run_gridpatrol


def test_load_workers_csv(demo_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "workers.csv"
    path.write_text("code,name,role,grids\nX1,Zhou,building_leader,990101001001001\n")
    ok = run_gridpatrol(demo_engine, "load", str(path), "--layer", "workers", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["inserted"] == 1
    bad_path = tmp_path / "bad.csv"
    bad_path.write_text("code,name,role,grids\nX2,Qian,janitor,990101001001001\n")
    bad = run_gridpatrol(demo_engine, "load", str(bad_path), "--layer", "workers")
    assert bad.returncode == 2
    assert "row 2 (Qian): unknown role 'janitor'" in bad.stderr
    with demo_engine.connect() as conn:
        roles = conn.execute(text("SELECT code, role FROM workers WHERE code LIKE 'X%'")).all()
    assert [tuple(r) for r in roles] == [("X1", "building_leader")]
