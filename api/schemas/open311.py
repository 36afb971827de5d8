"""Open311 GeoReport v2 (``/open311/v2/…``), typed as the standard has each field.

Public by design: a service request has no field for the reporter's name, phone or photo.
Only what a resident posts (``ServiceRequestForm``) may carry them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Timestamp
from gis.reports.intake import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_URL_CHARS,
    NOT_BLANK,
)


class ServiceRequestForm(BaseModel):
    """``POST requests.json`` fields (form-encoded as the standard says, or a JSON object).

    Fields of the standard not listed (``email``, ``device_id``, ``api_key``, …) are accepted
    and ignored; ``address_string`` alone cannot be located, so ``lat``/``long`` are needed.
    """

    model_config = ConfigDict(extra="allow")

    service_code: str = Field(min_length=1, description="a code of services.json")
    lat: float = Field(ge=-90, le=90, description="latitude, degrees (EPSG:4326)")
    long: float = Field(ge=-180, le=180, description="longitude, degrees (EPSG:4326)")
    description: str = Field(
        min_length=1, max_length=MAX_DESCRIPTION_CHARS, json_schema_extra={"pattern": NOT_BLANK}
    )
    first_name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    last_name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    phone: str | None = Field(default=None, max_length=MAX_PHONE_CHARS)
    media_url: str | None = Field(
        default=None,
        max_length=MAX_URL_CHARS,
        description="an http(s) URL (empty: none)",
        json_schema_extra={"pattern": "^(https?://|$)"},
    )


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="whether services/{code}.json lists extra attributes")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class ServiceAttribute(BaseModel):
    code: str
    datatype: str
    required: bool
    description: str


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[ServiceAttribute]


class ServiceRequest(BaseModel):
    """A report as a GeoReport v2 service request."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: Timestamp
    updated_datetime: Timestamp | None
    expected_datetime: Timestamp | None
    address: str | None = Field(description="the building's code")
    address_id: str | None = Field(description="the building's id")
    zipcode: str | None
    lat: float
    long: float


class ServiceRequestCreated(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class Open311Error(BaseModel):
    """GeoReport v2's error element (errors are a list of these)."""

    code: int
    description: str
