"""The household registry: ``gridpatrol load households.csv --layer households``.

A households CSV has columns ``code`` (unique), ``building`` (a building code), ``head_name``
and optionally ``unit``, ``phone``, ``members``, ``care`` (flags separated by ``;``, from
``CARE_FLAGS``), ``visit_every_days`` (default: the shortest of the flags' cadences, none
without a flag) and ``moved_out`` (the date the household left; ISO 8601, a date or a time
without an offset read in ``GRIDPATROL_TIMEZONE``). It is checked row by row and imported
all-or-nothing: one bad row rejects the file naming the row; a clean file is upserted by code.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from gis.core.csvfile import read_csv_rows
from gis.core.errors import ImportRejected
from gis.core.vocabulary import CARE_FLAGS
from gis.territory.importing import ImportResult

LAYER = "households"
REQUIRED_COLUMNS = ("code", "building", "head_name")
OPTIONAL_COLUMNS = ("unit", "phone", "members", "care", "visit_every_days", "moved_out")


def _read_rows(path: Path) -> list[dict[str, str]]:
    return read_csv_rows(
        path, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS, noun="a households CSV"
    )


def _count(value: str, name: str, *, minimum: int, reasons: list[str]) -> int | None:
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        reasons.append(f"{name} {value!r} is not a whole number")
        return None
    if number < minimum:
        reasons.append(f"{name} must be {minimum} or more, got {number}")
        return None
    return number


def parse_care(value: str) -> tuple[list[str], list[str]]:
    """The care flags of a ``;``-separated cell, and the unknown ones."""
    flags = [f.strip().lower() for f in value.replace(",", ";").split(";") if f.strip()]
    unknown = [f for f in flags if f not in CARE_FLAGS]
    return sorted(set(flags) - set(unknown), key=CARE_FLAGS.index), unknown


def _moved_out(value: str, zone: tzinfo, reasons: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            moved = datetime.combine(date.fromisoformat(value), time())
        else:
            moved = datetime.fromisoformat(value)
    except ValueError:
        reasons.append(f"moved_out {value!r} is not an ISO 8601 date or time")
        return None
    return moved if moved.utcoffset() is not None else moved.replace(tzinfo=zone)


def _check_row(
    row: dict[str, str], zone: tzinfo, known_buildings: set[str], reasons: list[str]
) -> dict[str, Any]:
    code, building = row.get("code", ""), row.get("building", "")
    if not code:
        reasons.append("missing code")
    if not building:
        reasons.append("missing building")
    elif building not in known_buildings:
        reasons.append(f"building {building!r} not found (import buildings first)")
    if not row.get("head_name"):
        reasons.append("missing head_name")
    care, unknown = parse_care(row.get("care", ""))
    if unknown:
        reasons.append(
            f"unknown care flag(s) {', '.join(map(repr, unknown))}; "
            f"expected: {', '.join(CARE_FLAGS)} (separated by ';')"
        )
    moved = _moved_out(row.get("moved_out", ""), zone, reasons)
    return {
        "code": code,
        "building": building,
        "unit": row.get("unit") or None,
        "head_name": row.get("head_name") or None,
        "phone": row.get("phone") or None,
        "members": _count(row.get("members", ""), "members", minimum=0, reasons=reasons),
        "care": care,
        "visit_every_days": _count(
            row.get("visit_every_days", ""), "visit_every_days", minimum=1, reasons=reasons
        ),
        "moved_out_at": moved.isoformat() if moved else None,
    }


_UPSERT = """
WITH src AS (
    SELECT s.*, b.id AS building_id
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s(
        code text, building text, unit text, head_name text, phone text, members integer,
        care text[], visit_every_days integer, moved_out_at timestamptz)
    JOIN buildings b ON b.code = s.building
),
up AS (
    INSERT INTO households AS h (code, building_id, unit, head_name, phone, members, care,
                                 visit_every_days, moved_out_at)
    SELECT code, building_id, unit, head_name, phone, members, care, visit_every_days,
           moved_out_at
    FROM src
    ON CONFLICT (code) DO UPDATE
        SET building_id = EXCLUDED.building_id, unit = EXCLUDED.unit,
            head_name = EXCLUDED.head_name, phone = EXCLUDED.phone,
            members = EXCLUDED.members, care = EXCLUDED.care,
            visit_every_days = EXCLUDED.visit_every_days,
            moved_out_at = EXCLUDED.moved_out_at, updated_at = now()
        WHERE (h.building_id, h.unit, h.head_name, h.phone, h.members, h.care,
               h.visit_every_days, h.moved_out_at)
            IS DISTINCT FROM (EXCLUDED.building_id, EXCLUDED.unit, EXCLUDED.head_name,
               EXCLUDED.phone, EXCLUDED.members, EXCLUDED.care, EXCLUDED.visit_every_days,
               EXCLUDED.moved_out_at)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
"""


def import_households_csv(conn: Connection, path: Path, *, zone: tzinfo) -> ImportResult:
    """Upsert the households of a CSV by code; all-or-nothing (``ImportRejected`` names each
    bad row: unknown building, unknown care flag, malformed number or date, duplicate code).

    ``zone``: how a ``moved_out`` without an offset is read (``GRIDPATROL_TIMEZONE``).
    """
    rows = _read_rows(path)
    if not rows:
        raise ImportRejected(f"{path}: the file holds no households")
    wanted = sorted({row.get("building", "") for row in rows} - {""})
    known = set(
        conn.execute(
            text("SELECT code FROM buildings WHERE code = ANY(CAST(:codes AS text[]))"),
            {"codes": wanted},
        ).scalars()
    )
    problems: list[str] = []
    seen: dict[str, int] = {}
    clean: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        reasons: list[str] = []
        checked = _check_row(row, zone, known, reasons)
        code = checked["code"]
        if code and code in seen:
            reasons.append(f"duplicate household code {code!r} (also on line {seen[code]})")
        seen.setdefault(code, line)
        if reasons:
            problems.append(f"row {line} ({code or 'no code'}): {'; '.join(reasons)}")
        else:
            clean.append(checked)
    if problems:
        raise ImportRejected.listing(str(path), problems, noun="row")
    inserted, updated = conn.execute(text(_UPSERT), {"rows": json.dumps(clean)}).one()
    return ImportResult(
        layer=LAYER,
        features=len(clean),
        inserted=int(inserted),
        updated=int(updated),
        unchanged=len(clean) - int(inserted) - int(updated),
    )
