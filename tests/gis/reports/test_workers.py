"""Workers CSV import: all-or-nothing, errors naming the row, idempotent reloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gis.core.errors import ImportRejected
from gis.reports.workers import import_workers_csv, list_workers

GRID_A = "990101001001001"
GRID_B = "990101001001002"


def test_import_and_reload(demo_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "workers.csv"
    path.write_text(
        f"name,role,grids\nMa Li,grid_worker,{GRID_A}\nHe Yu,party_member,{GRID_A};{GRID_B}\n"
    )
    with demo_engine.begin() as conn:
        conn.execute(text("DELETE FROM worker_grids"))
        result = import_workers_csv(conn, path)
    assert (result.inserted, result.updated) == (2, 0)
    with demo_engine.begin() as conn:
        again = import_workers_csv(conn, path)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
        by_grid = {w["name"]: w["grids"] for w in list_workers(conn, grid_code=GRID_B)}
    assert by_grid == {"He Yu": [GRID_A, GRID_B]}


def test_bad_rows_reject_the_file_naming_each_row(demo_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "workers.csv"
    path.write_text(
        "name,role,grids\n"
        f"Ok,grid_worker,{GRID_A}\n"
        f"Bad Role,janitor,{GRID_A}\n"
        "No Grid,grid_worker,999999999999999\n"
        ",grid_worker,12\n"
    )
    with demo_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM workers")).scalar_one()
    with pytest.raises(ImportRejected) as info, demo_engine.begin() as conn:
        import_workers_csv(conn, path)
    problems = info.value.problems
    assert problems[0].startswith("row 3 (Bad Role): unknown role 'janitor'")
    assert problems[1].startswith("row 4 (No Grid): grid '999999999999999' not found")
    assert problems[2].startswith("row 5 (no name): missing name")
    with demo_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM workers")).scalar_one() == before


def test_missing_column_is_named(empty_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "workers.csv"
    path.write_text("name,grids\nA,1\n")
    with pytest.raises(ImportRejected, match="missing column.*role"), empty_engine.begin() as conn:
        import_workers_csv(conn, path)
