"""Reading reports: one report, filtered and paged lists, overdue flags, map features.

Lists never carry the reporter's contact or photo (personal data: faces, plates, homes); only
``get_report(include_contact=True)`` does, and ``public_report`` takes them off again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput, NotFound
from gis.core.timewindow import check_window
from gis.core.vocabulary import OPEN_STATUSES, STATUSES, sql_list
from gis.reports.actions import allowed_actions
from gis.reports.deadlines import overdue_sql, stage_overdue_sql
from gis.territory.layers import DEFAULT_PAGE_SIZE, BBox, bbox_filter

_OPEN_SQL = sql_list(OPEN_STATUSES)


def _now_sql() -> str:
    return "COALESCE(CAST(:as_of AS timestamptz), now())"


def _overdue_sql(kind: str) -> str:
    return stage_overdue_sql(kind, now=_now_sql())


_REPORT_SELECT = f"""
SELECT r.id, r.category, r.description, r.status, r.located,
    r.district_code, r.subdistrict_code, r.community_code, r.grid_code,
    r.building_id, b.code AS building_code, r.building_distance_m,
    ST_Y(r.geom) AS lat, ST_X(r.geom) AS lon,
    r.reported_at, r.updated_at, r.due_arrival_at, r.due_resolution_at,
    r.arrived_at, r.resolved_at, r.closed_at,
    {_overdue_sql("arrival")} AS arrival_overdue,
    {_overdue_sql("resolution")} AS resolution_overdue,
    r.escalation_level, r.responsible_code, r.coordinating_community_code,
    r.duplicate_of, r.photo_url, r.reporter_name, r.reporter_phone,
    r.worker_id, w.name AS worker_name, w.role AS worker_role,
    (SELECT count(*) FROM report_events e WHERE e.report_id = r.id) AS version
FROM reports r
LEFT JOIN buildings b ON b.id = r.building_id
LEFT JOIN workers w ON w.id = r.worker_id
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _report_dict(row: Any, *, include_contact: bool) -> dict[str, Any]:
    report: dict[str, Any] = {
        "id": row.id,
        "category": row.category,
        "description": row.description,
        "status": row.status,
        "located": row.located,
        "lat": round(row.lat, 7),
        "lon": round(row.lon, 7),
        "location": {
            "district_code": row.district_code,
            "subdistrict_code": row.subdistrict_code,
            "community_code": row.community_code,
            "grid_code": row.grid_code,
            "building_id": row.building_id,
            "building_code": row.building_code,
            "building_distance_m": (
                round(row.building_distance_m, 1) if row.building_distance_m is not None else None
            ),
        },
        "reported_at": _iso(row.reported_at),
        "updated_at": _iso(row.updated_at),
        "due_arrival_at": _iso(row.due_arrival_at),
        "due_resolution_at": _iso(row.due_resolution_at),
        "due_at": _iso(row.due_resolution_at),
        "arrived_at": _iso(row.arrived_at),
        "resolved_at": _iso(row.resolved_at),
        "closed_at": _iso(row.closed_at),
        "arrival_overdue": bool(row.arrival_overdue),
        "resolution_overdue": bool(row.resolution_overdue),
        "overdue": bool(row.arrival_overdue or row.resolution_overdue),
        "escalation_level": row.escalation_level,
        "responsible_code": row.responsible_code,
        "coordinating_community_code": row.coordinating_community_code,
        "likely_duplicate_of": row.duplicate_of,
        "worker": (
            {"id": row.worker_id, "name": row.worker_name, "role": row.worker_role}
            if row.worker_id is not None
            else None
        ),
        "allowed_actions": allowed_actions(row.status, row.escalation_level),
        "version": int(row.version),
    }
    if include_contact:
        report["reporter"] = {"name": row.reporter_name, "phone": row.reporter_phone}
        report["photo_url"] = row.photo_url
    return report


# What only accounts allowed a report's personal data see (see gis/access/policy.py): the
# reporter's contact and photo, and the assigned worker's name (staff are people too).
CONTACT_FIELDS: tuple[str, ...] = ("reporter", "photo_url")
STAFF_FIELDS: tuple[str, ...] = ("name",)


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """A report without the reporter's name, phone and photo, nor the worker's name."""
    shown = {key: value for key, value in report.items() if key not in CONTACT_FIELDS}
    if shown.get("worker"):
        shown["worker"] = {k: v for k, v in shown["worker"].items() if k not in STAFF_FIELDS}
    return shown


def get_report(
    conn: Connection,
    report_id: int,
    *,
    include_contact: bool = False,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """One report; reporter contact only when ``include_contact`` (dispatchers, not public)."""
    row = conn.execute(
        text(_REPORT_SELECT + " WHERE r.id = :id"), {"id": report_id, "as_of": as_of}
    ).one_or_none()
    if row is None:
        raise NotFound(f"no report with id {report_id}")
    return _report_dict(row, include_contact=include_contact)


@dataclass(frozen=True)
class ReportFilter:
    """Filters of the report list; ``None`` means no filter."""

    status: tuple[str, ...] | None = None
    category: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    district_code: str | None = None
    located: bool | None = None
    overdue: bool | None = None
    bbox: BBox | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[int, ...] | None = None


def _filter_where(f: ReportFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if f.status:
        unknown = [s for s in f.status if s not in STATUSES]
        if unknown:
            raise InvalidInput(
                f"status: unknown status {unknown[0]!r}; expected one of: {', '.join(STATUSES)}"
            )
        clauses.append("r.status = ANY(:statuses)")
        params["statuses"] = list(f.status)
    for column, value in (
        ("category", f.category),
        ("grid_code", f.grid_code),
        ("community_code", f.community_code),
        ("district_code", f.district_code),
    ):
        if value is not None:
            clauses.append(f"r.{column} = :{column}")
            params[column] = value
    if f.located is not None:
        clauses.append("r.located = :located")
        params["located"] = f.located
    if f.overdue is not None:
        late = overdue_sql(now=_now_sql())
        clauses.append(late if f.overdue else f"NOT {late}")
    if f.bbox is not None:
        condition, bbox_params = bbox_filter(f.bbox, column="r.geom")
        clauses.append(condition)
        params |= bbox_params
    if f.since is not None:
        clauses.append("r.reported_at >= :since")
        params["since"] = f.since
    if f.until is not None:
        clauses.append("r.reported_at < :until")
        params["until"] = f.until
    if f.ids is not None:
        clauses.append("r.id = ANY(:ids)")
        params["ids"] = list(f.ids)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_reports(
    conn: Connection,
    *,
    filters: ReportFilter = ReportFilter(),  # noqa: B008 (frozen, so a shared default is safe)
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """A page of reports (newest first) with ``numberMatched``; never shows reporter contact."""
    if limit < 1:
        raise InvalidInput("limit: must be at least 1")
    if offset < 0:
        raise InvalidInput("offset: must not be negative")
    check_window(filters.since, filters.until)
    where, params = _filter_where(filters)
    params["as_of"] = as_of
    rows = conn.execute(
        text(
            _REPORT_SELECT + f" {where} ORDER BY r.reported_at DESC, r.id DESC"
            " LIMIT :limit OFFSET :offset"
        ),
        params | {"limit": limit, "offset": offset},
    ).all()
    total = conn.execute(text(f"SELECT count(*) FROM reports r {where}"), params).scalar_one()
    reports = [_report_dict(row, include_contact=False) for row in rows]
    return {
        "type": "FeatureCollection",
        "features": [report_feature(r) for r in reports],
        "numberMatched": int(total),
        "numberReturned": len(reports),
        "limit": limit,
        "offset": offset,
    }


def report_feature(report: dict[str, Any]) -> dict[str, Any]:
    """A report as a GeoJSON Feature (its public view: no contact, no worker's name)."""
    properties = {k: v for k, v in public_report(report).items() if k not in ("lat", "lon")}
    return {
        "type": "Feature",
        "id": report["id"],
        "geometry": {"type": "Point", "coordinates": [report["lon"], report["lat"]]},
        "properties": properties,
    }


def open_reports_geojson(
    conn: Connection,
    *,
    bbox: BBox | None = None,
    limit: int = 5000,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Open reports (``OPEN_STATUSES``) with status and overdue flags, for maps."""
    return list_reports(
        conn,
        filters=ReportFilter(status=OPEN_STATUSES, bbox=bbox),
        limit=limit,
        as_of=as_of,
    )
