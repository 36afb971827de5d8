"""Reading a CSV an import checks row by row (workers, households): header names lower-cased
and stripped, cells stripped, and a file that cannot be read refused as a whole."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from gis.core.errors import ImportRejected


def read_csv_rows(
    path: Path, *, required: Sequence[str], optional: Sequence[str], noun: str
) -> list[dict[str, str]]:
    """The rows of a UTF-8 CSV (a BOM is fine) as dicts; ``ImportRejected`` when the file is
    missing, unreadable or lacks a ``required`` column (``noun``: "a workers CSV")."""
    if not path.exists():
        raise ImportRejected(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            missing = [c for c in required if c not in columns]
            if missing:
                raise ImportRejected(
                    f"{path}: missing column(s) {', '.join(missing)}; {noun} needs "
                    f"{', '.join(required)} (and optionally {', '.join(optional)})"
                )
            return [
                {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k}
                for row in reader
            ]
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"{path}: not a UTF-8 CSV file: {exc}") from exc
    except csv.Error as exc:
        raise ImportRejected(f"{path}: not a readable CSV file: {exc}") from exc
