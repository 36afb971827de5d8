"""Workers (grid workers, party members, building leaders) and the grids they serve.

A workers CSV has columns ``name``, ``role``, ``grids`` (grid codes separated by ``;``) and
optionally ``code`` (stable id; defaults to the name) and ``phone``. It is checked row by row and
imported all-or-nothing: one bad row rejects the file with a message naming the row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from gis.core.csvfile import read_csv_rows
from gis.core.errors import ImportRejected
from gis.core.vocabulary import LEVEL_TABLE, WORKER_ROLES, Level
from gis.territory.codes import code_problem
from gis.territory.importing import ImportResult

REQUIRED_COLUMNS = ("name", "role", "grids")


def _read_rows(path: Path) -> list[dict[str, str]]:
    return read_csv_rows(
        path, required=REQUIRED_COLUMNS, optional=("code", "phone"), noun="a workers CSV"
    )


def import_workers_csv(conn: Connection, path: Path) -> ImportResult:
    """Upsert the workers of a CSV (by code) and replace their grids; all-or-nothing."""
    rows = _read_rows(path)
    if not rows:
        raise ImportRejected(f"{path}: the file holds no workers")
    known_grids = set(conn.execute(text("SELECT code FROM grids")).scalars())
    problems: list[str] = []
    seen: dict[str, int] = {}
    clean: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        reasons: list[str] = []
        name, role = row.get("name", ""), row.get("role", "")
        code = row.get("code") or name
        grids = [g.strip() for g in row.get("grids", "").replace(",", ";").split(";") if g.strip()]
        if not name:
            reasons.append("missing name")
        if role not in WORKER_ROLES:
            reasons.append(f"unknown role {role!r}; expected one of: {', '.join(WORKER_ROLES)}")
        if not grids:
            reasons.append("no grids (list grid codes separated by ';')")
        for grid in grids:
            problem = code_problem(LEVEL_TABLE[Level.GRID], grid)
            if problem:
                reasons.append(f"grid {problem}")
            elif grid not in known_grids:
                reasons.append(f"grid {grid!r} not found (import grids first)")
        if code and code in seen:
            reasons.append(f"duplicate worker code {code!r} (also on line {seen[code]})")
        seen.setdefault(code, line)
        if reasons:
            problems.append(f"row {line} ({name or 'no name'}): {'; '.join(reasons)}")
        else:
            clean.append(
                {
                    "code": code,
                    "name": name,
                    "role": role,
                    "phone": row.get("phone") or None,
                    "grids": sorted(set(grids)),
                }
            )
    if problems:
        raise ImportRejected.listing(str(path), problems, noun="row")
    # One statement per table over all rows (the CSV arrives as one JSON array).
    payload = json.dumps(clean)
    outcome = conn.execute(
        text(
            """
            WITH src AS (
                SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                    AS s(code text, name text, role text, phone text, grids text[])
            ),
            up AS (
                INSERT INTO workers (code, name, role, phone)
                SELECT code, name, role, phone FROM src
                ON CONFLICT (code) DO UPDATE
                    SET name = EXCLUDED.name, role = EXCLUDED.role, phone = EXCLUDED.phone
                    WHERE (workers.name, workers.role, workers.phone)
                        IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.role, EXCLUDED.phone)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
            """
        ),
        {"rows": payload},
    ).one()
    conn.execute(
        text(
            """
            WITH src AS (
                SELECT w.id, unnest(s.grids) AS grid_code
                FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS s(code text, grids text[])
                JOIN workers w ON w.code = s.code
            ),
            gone AS (
                DELETE FROM worker_grids wg
                WHERE wg.worker_id IN (SELECT id FROM src)
                  AND (wg.worker_id, wg.grid_code) NOT IN (SELECT id, grid_code FROM src)
            )
            INSERT INTO worker_grids (worker_id, grid_code)
            SELECT id, grid_code FROM src
            ON CONFLICT DO NOTHING
            """
        ),
        {"rows": payload},
    )
    inserted, updated = int(outcome[0]), int(outcome[1])
    return ImportResult(
        layer="workers",
        features=len(clean),
        inserted=inserted,
        updated=updated,
        unchanged=len(clean) - inserted - updated,
    )


def list_workers(
    conn: Connection, *, grid_code: str | None = None, scopes: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Workers with their phone and grids: the staff directory (personal data).

    ``scopes`` (unit-code prefixes, "" the whole city) keeps the workers serving at least one
    grid they reach; None keeps all. ``grid_code`` keeps the workers of that grid.
    """
    rows = conn.execute(
        text(
            """
            SELECT w.id, w.code, w.name, w.role, w.phone,
                array_agg(wg.grid_code ORDER BY wg.grid_code) AS grids
            FROM workers w JOIN worker_grids wg ON wg.worker_id = w.id
            GROUP BY w.id
            HAVING (CAST(:grid AS text) IS NULL OR bool_or(wg.grid_code = :grid))
               AND (CAST(:scopes AS text[]) IS NULL OR bool_or(EXISTS (
                    SELECT 1 FROM unnest(CAST(:scopes AS text[])) AS s
                    WHERE starts_with(wg.grid_code, s))))
            ORDER BY w.id
            """
        ),
        {"grid": grid_code, "scopes": None if scopes is None else list(scopes)},
    ).all()
    return [
        {
            "id": r.id,
            "code": r.code,
            "name": r.name,
            "role": r.role,
            "phone": r.phone,
            "grids": list(r.grids),
        }
        for r in rows
    ]
