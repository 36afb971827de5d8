"""A demo city whose household registry is replaced by a few households written in the test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gis.city import DEFAULT_ZONE
from gis.households.registry import import_households_csv

HEADER = "code,building,unit,head_name,phone,members,care,visit_every_days\n"


@dataclass(frozen=True)
class Town:
    """The demo city with no households, and two buildings of one grid to put them in."""

    engine: Engine
    building: str
    other_building: str
    grid: str
    tmp: Path

    def load(self, rows: str, name: str = "households.csv") -> None:
        path = self.tmp / name
        path.write_text(HEADER + rows, encoding="utf-8")
        with self.engine.begin() as conn:
            import_households_csv(conn, path, zone=DEFAULT_ZONE)

    def visit(self, code: str, at: str, outcome: str = "met") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO household_visits (household_id, visited_at, outcome) "
                    "SELECT id, :at, :outcome FROM households WHERE code = :code"
                ),
                {"code": code, "at": at, "outcome": outcome},
            )


@pytest.fixture
def town(demo_engine: Engine, tmp_path: Path) -> Iterator[Town]:
    with demo_engine.begin() as conn:
        conn.execute(text("DELETE FROM households"))
        grid, first, second = conn.execute(
            text(
                """
                SELECT grid_code, min(code), max(code) FROM buildings
                WHERE grid_code IS NOT NULL GROUP BY grid_code ORDER BY grid_code LIMIT 1
                """
            )
        ).one()
    yield Town(demo_engine, first, second, grid, tmp_path)
