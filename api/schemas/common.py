"""Models every resource shares: GeoJSON features and pages, and the error bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from geojson_pydantic import Feature, FeatureCollection
from pydantic import AwareDatetime, BaseModel, Field, PlainSerializer, WithJsonSchema

FeatureT = TypeVar("FeatureT", bound=Feature[Any, Any])


class FeaturePage(FeatureCollection[FeatureT], Generic[FeatureT]):
    """A page of a GeoJSON FeatureCollection (EPSG:4326) with the total count."""

    numberMatched: int = Field(description="features matching the filters, over all pages")
    numberReturned: int = Field(description="features in this page")
    limit: int = Field(description="page size used")
    offset: int = Field(description="features skipped")


class ErrorBody(BaseModel):
    """Every error: ``detail`` says what was wrong and what to change."""

    detail: str


class FieldError(BaseModel):
    """One malformed request field, as FastAPI's validation reports it."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    """A malformed request: ``detail`` names each field; ``errors`` lists them."""

    errors: list[FieldError] | None = None


class ImportRejectedBody(ErrorBody):
    """A refused import: ``problems`` names every bad feature or row."""

    problems: list[str] | None = None


class TransitionConflictBody(ErrorBody):
    """An action not allowed now: the report's status and the actions that are."""

    current_status: str
    allowed_actions: list[str]


_DESCRIPTIONS = {
    400: "Bad request",
    401: "No valid bearer token where one is needed (sign in: POST /auth/token)",
    403: "The account's role or scope does not allow this",
    404: "Not found",
    409: "Conflict with the stored data",
    422: "Invalid parameter or body; `detail` names it",
    429: "Anonymous requests over their rate; retry after `Retry-After` seconds",
    503: "A required service or file is unavailable; `detail` says how to fix it",
}


def error_responses(*statuses: int, **models: type[ErrorBody]) -> dict[int | str, Any]:
    """``responses=`` for a route: each status with the error model its body follows.

    422 uses ``ValidationErrorBody``; ``models`` overrides by ``s<status>`` (e.g. ``s409=...``).
    """
    responses: dict[int | str, Any] = {}
    for status in statuses:
        model = models.get(f"s{status}") or (ValidationErrorBody if status == 422 else ErrorBody)
        responses[status] = {"model": model, "description": _DESCRIPTIONS[status]}
    return responses


def _iso(value: datetime) -> str:
    return value.isoformat()


# A time with its UTC offset, written as ISO 8601 (``2025-01-01T08:00:00+08:00``).
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
