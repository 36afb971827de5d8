"""Open311 GeoReport v2 mapping: categories are services, reports are service requests.

Public by design: nothing here ever carries the reporter's name or phone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from gis.core.errors import InvalidInput, NotFound
from gis.core.timewindow import check_window
from gis.core.vocabulary import OPEN_STATUSES, STATUSES
from gis.reports.categories import Category
from gis.reports.intake import MAX_REPORT_DISTANCE_M, ReportInput, Submission, submit_report
from gis.reports.listing import ReportFilter, list_reports

# GeoReport v2: without dates, requests of the last 90 days; at most 1000 per response.
DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
OPEN311_STATUSES = {
    "open": OPEN_STATUSES,
    "closed": tuple(s for s in STATUSES if s not in OPEN_STATUSES),
}
# The filters' syntax, as the OpenAPI document gives it and the parsers enforce it:
# comma-separated ids (at most 18 digits: bigint) and statuses, spaces around commas allowed.
IDS_PATTERN = r"^ *[0-9]{1,18} *(, *[0-9]{1,18} *)*$"
STATUS_PATTERN = r"^ *(open|closed) *(, *(open|closed) *)*$"


def list_services(categories: dict[str, Category]) -> list[dict[str, Any]]:
    """``services.json``: one realtime service per category."""
    return [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": c.description,
            "metadata": False,
            "type": "realtime",
            "keywords": c.group,
            "group": c.group,
        }
        for c in categories.values()
    ]


def describe_service(categories: dict[str, Category], service_code: str) -> dict[str, Any]:
    """``services/{code}.json``: no extra attributes beyond the standard fields."""
    if service_code not in categories:
        raise NotFound(f"service_code: no service {service_code!r}")
    return {"service_code": service_code, "attributes": []}


def _open311_status(status: str) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


def service_request(report: dict[str, Any], categories: dict[str, Category]) -> dict[str, Any]:
    """A report as a GeoReport v2 service request (no reporter contact)."""
    category = categories.get(report["category"])
    location = report["location"]
    unit = report["responsible_code"]
    return {
        "service_request_id": str(report["id"]),
        "status": _open311_status(report["status"]),
        "status_notes": report["status"].replace("_", " "),
        "service_name": category.name if category else report["category"],
        "service_code": report["category"],
        "description": report["description"],
        "agency_responsible": f"{report['escalation_level']} {unit}" if unit else "dispatcher",
        "service_notice": None,
        "requested_datetime": report["reported_at"],
        "updated_datetime": report["updated_at"],
        "expected_datetime": report["due_resolution_at"],
        "address": location["building_code"],
        # GeoReport v2 types every id as a string.
        "address_id": (
            str(location["building_id"]) if location["building_id"] is not None else None
        ),
        "zipcode": None,
        "lat": report["lat"],
        "long": report["lon"],
        # No media_url: a resident's photo is personal data, never public (see PRODUCT.md).
    }


def find_service_requests(
    conn: Connection,
    categories: dict[str, Category],
    *,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """``GET requests.json``: filters as in GeoReport v2 (ids and statuses comma-separated;
    dates time-zone aware, ``start_date <= requested < end_date``)."""
    ids: tuple[int, ...] | None = None
    if service_request_id:
        if not re.fullmatch(IDS_PATTERN, service_request_id):
            raise InvalidInput(
                f"service_request_id: expected comma-separated numbers, got {service_request_id!r}"
            )
        ids = tuple(int(part) for part in service_request_id.split(","))
    statuses: tuple[str, ...] | None = None
    if status:
        if not re.fullmatch(STATUS_PATTERN, status):
            raise InvalidInput(f"status: expected open, closed or both (comma), got {status!r}")
        wanted = [s.strip() for s in status.split(",")]
        statuses = tuple(s for w in wanted for s in OPEN311_STATUSES[w])
    if service_code and service_code not in categories:
        raise InvalidInput(f"service_code: no service {service_code!r}")
    check_window(start_date, end_date, names=("start_date", "end_date"))
    since, until = start_date, end_date
    if ids is None and since is None and until is None:
        since = datetime.now(UTC) - DEFAULT_WINDOW
    page = list_reports(
        conn,
        filters=ReportFilter(
            ids=ids, status=statuses, category=service_code, since=since, until=until
        ),
        limit=MAX_REQUESTS,
    )
    return [service_request(_from_feature(f), categories) for f in page["features"]]


def _from_feature(feature: dict[str, Any]) -> dict[str, Any]:
    lon, lat = feature["geometry"]["coordinates"]
    return {**feature["properties"], "lat": lat, "lon": lon}


def get_service_request(
    conn: Connection, categories: dict[str, Category], service_request_id: str
) -> list[dict[str, Any]]:
    """``GET requests/{id}.json``: a one-element list, as the standard has it."""
    found = find_service_requests(conn, categories, service_request_id=service_request_id)
    if not found:
        raise NotFound(f"service_request_id: no request {service_request_id!r}")
    return found


def _number(fields: dict[str, str], name: str) -> float:
    raw = fields.get(name)
    if raw is None or raw == "":
        raise InvalidInput(f"{name}: required")
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{name}: must be a number, got {raw!r}") from None


def post_service_request(
    conn: Connection,
    categories: dict[str, Category],
    fields: dict[str, str],
    *,
    idempotency_key: str | None = None,
    max_distance_m: float = MAX_REPORT_DISTANCE_M,
) -> tuple[list[dict[str, Any]], Submission]:
    """``POST requests.json`` from form fields; returns the standard's response and the report."""
    for name in ("service_code", "description"):
        if not fields.get(name):
            raise InvalidInput(f"{name}: required")
    if not fields.get("lat") and not fields.get("long"):
        raise InvalidInput("lat: required (with long); address_string alone cannot be located")
    reporter: str | None = (
        " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p) or None
    )
    submission = submit_report(
        conn,
        ReportInput(
            lat=_number(fields, "lat"),
            lon=_number(fields, "long"),
            category=fields["service_code"],
            description=fields["description"],
            reporter_name=reporter,
            reporter_phone=fields.get("phone") or None,
            photo_url=fields.get("media_url") or None,
        ),
        idempotency_key=idempotency_key,
        max_distance_m=max_distance_m,
        actor="open311",
        categories=categories,
    )
    body = [
        {
            "service_request_id": str(submission.report["id"]),
            "service_notice": (
                None
                if submission.report["located"]
                else "outside every grid: queued for a dispatcher to locate"
            ),
            "account_id": None,
        }
    ]
    return body, submission
