"""The scope rule: an account reaches an object when one of the object's unit codes starts
with one of the account's scope prefixes ("" reaches the whole city).

A report's codes are its location (district, sub-district, community, grid) and the units
answerable for it (``responsible_code``, ``coordinating_community_code``): escalating an
enclave report across a district border makes it visible to the receiving unit.
``reaches`` is the rule in Python, ``scope_condition`` the same rule in SQL for lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import NotFound

# Columns of ``reports`` naming the units a report belongs to or is answerable to.
REPORT_SCOPE_COLUMNS: tuple[str, ...] = (
    "grid_code",
    "community_code",
    "subdistrict_code",
    "district_code",
    "responsible_code",
    "coordinating_community_code",
)


def reaches(scopes: Iterable[str], codes: Iterable[str | None]) -> bool:
    """Whether any code of an object starts with any scope prefix ("" reaches everything)."""
    scopes = tuple(scopes)
    if "" in scopes:
        return True
    present = [code for code in codes if code]
    return any(code.startswith(scope) for scope in scopes for code in present)


def report_codes(report: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The unit codes scoping a report, from a row of ``reports`` or a report as the API shows
    it (location fields nested under ``location``)."""
    flat = {**report, **(report.get("location") or {})}
    return tuple(flat.get(column) for column in REPORT_SCOPE_COLUMNS)


def load_report_codes(
    conn: Connection, report_id: int, *, lock: bool = False
) -> tuple[str | None, ...]:
    """The scoping codes of a stored report (``lock``: FOR UPDATE, in a transaction)."""
    row = conn.execute(
        text(
            f"SELECT {', '.join(REPORT_SCOPE_COLUMNS)} FROM reports WHERE id = :id"
            + (" FOR UPDATE" if lock else "")
        ),
        {"id": report_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no report with id {report_id}")
    return report_codes(dict(row._mapping))


def scope_condition(alias: str = "r", *, param: str = "scopes") -> str:
    """SQL: the ``reports`` row ``alias`` is in the scope ``:param`` (a text[] of prefixes).

    ``starts_with`` needs no escaping of LIKE wildcards; an empty array reaches nothing.
    """
    tests = " OR ".join(f"starts_with({alias}.{c}, s)" for c in REPORT_SCOPE_COLUMNS)
    return f"EXISTS (SELECT 1 FROM unnest(CAST(:{param} AS text[])) AS s WHERE s = '' OR {tests})"
