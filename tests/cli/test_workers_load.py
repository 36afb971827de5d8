"""``gridpatrol load FILE.csv --layer workers`` through the real CLI (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[2]


def _gridpatrol(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_load_workers_csv(demo_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "workers.csv"
    path.write_text("code,name,role,grids\nX1,Zhou,building_leader,990101001001001\n")
    ok = _gridpatrol(demo_engine, "load", str(path), "--layer", "workers", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["inserted"] == 1
    bad_path = tmp_path / "bad.csv"
    bad_path.write_text("code,name,role,grids\nX2,Qian,janitor,990101001001001\n")
    bad = _gridpatrol(demo_engine, "load", str(bad_path), "--layer", "workers")
    assert bad.returncode == 2
    assert "row 2 (Qian): unknown role 'janitor'" in bad.stderr
    with demo_engine.connect() as conn:
        roles = conn.execute(text("SELECT code, role FROM workers WHERE code LIKE 'X%'")).all()
    assert [tuple(r) for r in roles] == [("X1", "building_leader")]
