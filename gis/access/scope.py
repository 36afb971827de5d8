"""The scope rule: an account reaches an object when one of the object's unit codes starts
with one of the account's scope prefixes ("" reaches the whole city).

A report's codes are its location (district, sub-district, community, grid), the unit now
answerable for it (``responsible_code``) and, once it has been escalated past its grid, the
community coordinating across the border (``coordinating_community_code``). So an enclave or
border report is not shown to the community across the border while it is still its grid's
business; escalating it across the border makes it visible (contact included) to the receiving
unit, which keeps it while the report climbs further up that side's hierarchy.
``reaches`` is the rule in Python, ``scope_condition`` the same rule in SQL for lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import NotFound
from gis.core.vocabulary import Level

# Columns of ``reports`` naming the units a report belongs to or is answerable to.
REPORT_SCOPE_COLUMNS: tuple[str, ...] = (
    "grid_code",
    "community_code",
    "subdistrict_code",
    "district_code",
    "responsible_code",
)
# Counted only once the report has left its grid (escalation_level is not 'grid').
COORDINATING_COLUMN = "coordinating_community_code"
# Everything ``report_codes`` reads from a row of ``reports``.
SCOPE_SOURCE_COLUMNS: tuple[str, ...] = (
    *REPORT_SCOPE_COLUMNS,
    COORDINATING_COLUMN,
    "escalation_level",
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
    codes = [flat.get(column) for column in REPORT_SCOPE_COLUMNS]
    if flat["escalation_level"] != Level.GRID:
        codes.append(flat.get(COORDINATING_COLUMN))
    return tuple(codes)


def load_report_codes(
    conn: Connection, report_id: int, *, lock: bool = False
) -> tuple[str | None, ...]:
    """The scoping codes of a stored report (``lock``: FOR UPDATE, in a transaction)."""
    row = conn.execute(
        text(
            f"SELECT {', '.join(SCOPE_SOURCE_COLUMNS)} FROM reports WHERE id = :id"
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
    tests += (
        f" OR ({alias}.escalation_level <> '{Level.GRID}'"
        f" AND starts_with({alias}.{COORDINATING_COLUMN}, s))"
    )
    return f"EXISTS (SELECT 1 FROM unnest(CAST(:{param} AS text[])) AS s WHERE s = '' OR {tests})"
