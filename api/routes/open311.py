"""Open311 GeoReport v2 under ``/open311/v2/``, with the standard's error format.

Every error here — a domain error, a malformed request (400, not 422), the request guard's,
the database down — is a list of ``{"code", "description"}`` as GeoReport v2 clients expect
(``api.errors.error_content``); the rest of the API keeps ``{"detail": ...}``. Reads are
public (``read_public``: no reporter contact, no ``media_url``), posting is ``submit_report``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.deps import CategoriesDep, ConnDep, EngineDep, Open311WindowDep, SettingsDep
from api.errors import OPEN311_PREFIX
from api.ratelimit import IntakeLimit
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.open311 import (
    Open311Error,
    Service,
    ServiceDefinition,
    ServiceRequest,
    ServiceRequestCreated,
    ServiceRequestForm,
)
from gis.access.policy import Permission
from gis.core.errors import InvalidInput
from gis.reports.intake import MAX_DESCRIPTION_CHARS, MAX_IDEMPOTENCY_KEY_CHARS
from gis.reports.open311 import (
    IDS_PATTERN,
    STATUS_PATTERN,
    describe_service,
    find_service_requests,
    get_service_request,
    list_services,
    post_service_request,
)

# A form body larger than this cannot hold a valid request (description limit plus fields).
_MAX_BODY_BYTES = MAX_DESCRIPTION_CHARS * 4 + 16_384


def _errors(*statuses: int) -> dict[int | str, Any]:
    """``responses=`` of an Open311 route: errors are a list of ``Open311Error``."""
    return error_responses(*statuses, body=list[Open311Error])


# A malformed request is a 400 here; the other statuses every route may give (COMMON_ERRORS).
router = APIRouter(
    prefix=OPEN311_PREFIX,
    tags=["open311"],
    responses=_errors(400, *(s for s in COMMON_ERRORS if s != 422)),
)
_PUBLIC = [require(Permission.READ_PUBLIC)]
# The POST body is read by hand (form or JSON, as GeoReport v2 clients send either); this
# declares it in the OpenAPI document all the same.
# A form has no null: an optional field is left out (api/main.py writes that variant).
_FORM_REF = {"$ref": f"#/components/schemas/{ServiceRequestForm.__name__}"}
FORM_ENCODED = f"{ServiceRequestForm.__name__}Encoded"
_FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": f"#/components/schemas/{FORM_ENCODED}"}
            },
            "application/json": {"schema": _FORM_REF},
        },
    }
}


def _optional(pattern: str) -> str:
    """``pattern`` (anchored) or the empty string."""
    return f"^({pattern.removeprefix('^').removesuffix('$')})?$"


@router.get("/services.json", response_model=list[Service], dependencies=_PUBLIC)
def services(cats: CategoriesDep) -> Any:
    """The report categories as Open311 services."""
    return list_services(cats)


@router.get(
    "/services/{service_code}.json",
    response_model=ServiceDefinition,
    responses=_errors(404),
    dependencies=_PUBLIC,
)
def service(service_code: str, cats: CategoriesDep) -> Any:
    """A service definition (no extra attributes)."""
    return describe_service(cats, service_code)


@router.get("/requests.json", response_model=list[ServiceRequest], dependencies=_PUBLIC)
def requests(
    conn: ConnDep,
    cats: CategoriesDep,
    window: Open311WindowDep,
    # Documented patterns (empty: no filter), enforced by find_service_requests (400).
    service_request_id: Annotated[
        str | None,
        Query(
            description="comma-separated ids",
            json_schema_extra={"pattern": _optional(IDS_PATTERN)},
        ),
    ] = None,
    service_code: Annotated[str | None, Query(description="a code of services.json")] = None,
    status: Annotated[
        str | None,
        Query(
            description="open, closed or both (comma)",
            json_schema_extra={"pattern": _optional(STATUS_PATTERN)},
        ),
    ] = None,
    jurisdiction_id: str | None = None,
) -> Any:
    """Service requests (newest first, at most 1000; last 90 days unless dates are given)."""
    del jurisdiction_id  # one jurisdiction per server
    return find_service_requests(
        conn,
        cats,
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=window.since,
        end_date=window.until,
        status=status,
    )


async def _form_fields(request: Request) -> dict[str, str]:
    """The POST fields, form-encoded (the standard) or JSON."""
    body = await request.body()
    if len(body) > _MAX_BODY_BYTES:
        raise InvalidInput(f"description: request too large ({len(body)} bytes)")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise InvalidInput("request: body is not valid JSON") from None
        if not isinstance(data, dict):
            raise InvalidInput("request: expected a JSON object of fields")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


@router.post(
    "/requests.json",
    status_code=201,
    response_model=list[ServiceRequestCreated],
    responses=_errors(409, 429),
    dependencies=[require(Permission.SUBMIT_REPORT)],
    openapi_extra=_FORM_BODY,
)
async def create_request(
    request: Request,
    engine: EngineDep,
    cats: CategoriesDep,
    settings: SettingsDep,
    _limit: IntakeLimit,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS),
    ] = None,
) -> Any:
    """Create a service request from form fields (service_code, lat, long, description, …)."""
    fields = await _form_fields(request)

    def store() -> list[dict[str, Any]]:
        with engine.begin() as conn:
            return post_service_request(
                conn,
                cats,
                fields,
                idempotency_key=idempotency_key,
                max_distance_m=settings.max_report_distance_m,
            )[0]

    # The database work is blocking: keep it off the event loop.
    return await run_in_threadpool(store)


@router.get(
    "/requests/{service_request_id}.json",
    response_model=list[ServiceRequest],
    responses=_errors(404),
    dependencies=_PUBLIC,
)
def request_by_id(
    service_request_id: Annotated[
        str,
        Path(description="the request's id", json_schema_extra={"pattern": IDS_PATTERN}),
    ],
    conn: ConnDep,
    cats: CategoriesDep,
) -> Any:
    """One service request, as a one-element list."""
    return get_service_request(conn, cats, service_request_id)
