"""The household registry import: upsert by code, and each bad row rejecting the whole file
with a message naming the row (nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from gis.city import DEFAULT_ZONE
from gis.core.errors import ImportRejected
from gis.households.registry import import_households_csv
from tests.gis.households.conftest import HEADER, Town


def _count(town: Town) -> int:
    with town.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM households")).scalar_one())


def test_import_upserts_by_code(town: Town) -> None:
    b, other = town.building, town.other_building
    path = town.tmp / "households.csv"
    path.write_text(HEADER + f"H1,{b},101,王秀英,13800000001,1,elderly_alone,\n", "utf-8")
    with town.engine.begin() as conn:
        first = import_households_csv(conn, path, zone=DEFAULT_ZONE)
        again = import_households_csv(conn, path, zone=DEFAULT_ZONE)
    assert (first.inserted, first.updated, first.unchanged) == (1, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    # Moved to another building, a flag added, and a second household.
    path.write_text(
        HEADER
        + f"H1,{other},101,王秀英,13800000001,1,elderly_alone;disabled,\n"
        + f"H2,{b},,李四,,,,\n",
        "utf-8",
    )
    with town.engine.begin() as conn:
        third = import_households_csv(conn, path, zone=DEFAULT_ZONE)
        rows = conn.execute(
            text(
                "SELECT h.code, b.code AS building, h.care, h.unit, h.members FROM households h "
                "JOIN buildings b ON b.id = h.building_id ORDER BY h.code"
            )
        ).all()
    assert (third.inserted, third.updated, third.unchanged) == (1, 1, 0)
    assert [tuple(r) for r in rows] == [
        ("H1", other, ["elderly_alone", "disabled"], "101", 1),
        ("H2", b, [], None, None),
    ]


def test_moved_out_is_read_in_the_zone(town: Town) -> None:
    path = town.tmp / "moved.csv"
    path.write_text(
        "code,building,head_name,moved_out\n"
        f"H1,{town.building},a,2026-01-31\n"
        f"H2,{town.building},b,2026-01-31T23:30:00+00:00\n",
        "utf-8",
    )
    with town.engine.begin() as conn:
        import_households_csv(conn, path, zone=DEFAULT_ZONE)
        moved: dict[str, object] = {
            r.code: r.at
            for r in conn.execute(
                text("SELECT code, moved_out_at AT TIME ZONE 'UTC' AS at FROM households")
            )
        }
    assert str(moved["H1"]) == "2026-01-30 16:00:00"  # local midnight in Shanghai
    assert str(moved["H2"]) == "2026-01-31 23:30:00"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("H1,NO-SUCH-BUILDING,1,a,,1,,\n", "row 2 (H1): building 'NO-SUCH-BUILDING' not found"),
        ("H1,{b},1,a,,1,elderly_alone;lonely,\n", "row 2 (H1): unknown care flag(s) 'lonely'"),
        ("H1,{b},1,a,,1,,\nH1,{b},2,b,,1,,\n", "row 3 (H1): duplicate household code 'H1'"),
        ("H1,{b},1,a,,-2,,\n", "row 2 (H1): members must be 0 or more, got -2"),
        ("H1,{b},1,a,,two,,\n", "row 2 (H1): members 'two' is not a whole number"),
        ("H1,{b},1,a,,1,other,0\n", "row 2 (H1): visit_every_days must be 1 or more, got 0"),
        ("H1,{b},1,a,,1,other,weekly\n", "visit_every_days 'weekly' is not a whole number"),
        (",{b},1,a,,1,,\n", "row 2 (no code): missing code"),
        ("H1,,1,a,,1,,\n", "row 2 (H1): missing building"),
        ("H1,{b},1,,,1,,\n", "row 2 (H1): missing head_name"),
    ],
)
def test_a_bad_row_rejects_the_file(town: Town, rows: str, message: str) -> None:
    town.load(f"OK,{town.building},1,a,,1,,\n", name="first.csv")
    path = town.tmp / "bad.csv"
    good = f"H0,{town.building},9,z,,1,disabled,\n"
    path.write_text(HEADER + good + rows.replace("{b}", town.building), "utf-8")
    with pytest.raises(ImportRejected) as caught, town.engine.begin() as conn:
        import_households_csv(conn, path, zone=DEFAULT_ZONE)
    # The good row before it is line 2: the bad one is the next line.
    expected = message.replace("row 3", "row 4").replace("row 2", "row 3")
    assert expected in caught.value.detail
    assert _count(town) == 1  # nothing of the file was written


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"code,building\nH1,B\n", "missing column(s) head_name"),
        (b"code,building,head_name\n", "the file holds no households"),
        (b"code,building,head_name\nH1,B,\xff\xfe\n", "not a UTF-8 CSV file"),
        (b"code,building,head_name,moved_out\nH1,{b},a,last spring\n", "is not an ISO 8601"),
    ],
)
def test_a_bad_file_is_rejected(town: Town, content: bytes, message: str) -> None:
    path = town.tmp / "bad.csv"
    path.write_bytes(content.replace(b"{b}", town.building.encode()))
    with pytest.raises(ImportRejected) as caught, town.engine.begin() as conn:
        import_households_csv(conn, path, zone=DEFAULT_ZONE)
    assert message in caught.value.detail
    assert _count(town) == 0


def test_a_missing_file_is_named(town: Town, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected, match="no such file"), town.engine.begin() as conn:
        import_households_csv(conn, tmp_path / "nope.csv", zone=DEFAULT_ZONE)
