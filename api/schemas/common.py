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


class TransitionConflictBody(ErrorBody):
    """An action not allowed now: the report's status and the actions that are."""

    current_status: str
    allowed_actions: list[str]
    current_version: int | None = Field(
        default=None, description="the report's version now (its ETag), when it changed"
    )


_DESCRIPTIONS = {
    400: "Bad request",
    401: "No valid bearer token where one is needed, or a token sent that is invalid, expired "
    "or of a disabled account (sign in: POST /auth/token)",
    403: "The account's role or scope does not allow this",
    404: "Not found",
    409: "Conflict with the stored data",
    413: "Request body larger than GRIDPATROL_MAX_BODY_BYTES",
    422: "Invalid parameter or body; `detail` names it",
    429: "Too many requests from this address (anonymous intake, sign-in attempts)",
    503: "A required service or file is unavailable; `detail` says how to fix it",
}


# Answers every route may give, whatever it does: a bearer token that is sent but invalid
# (401), a body over the limit (413), text PostgreSQL cannot store or a malformed, repeated or
# out-of-range parameter (422), the database down (503). Routers declare these; routes add theirs.
COMMON_ERRORS: tuple[int, ...] = (401, 413, 422, 503)


# Headers always sent with these statuses (RFC 6750, RFC 9110).
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: sign in at POST /auth/token",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "seconds until the next request is accepted",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}


def error_responses(*statuses: int, body: Any = None, **models: Any) -> dict[int | str, Any]:
    """``responses=`` for a route or router: each status with the model its body follows.

    422 uses ``ValidationErrorBody``, the rest ``ErrorBody``; ``models`` overrides by
    ``s<status>`` (e.g. ``s409=...``) and ``body`` for every status (Open311's error list).
    """
    responses: dict[int | str, Any] = {}
    for status in statuses:
        default = ValidationErrorBody if status == 422 else ErrorBody
        model = models.get(f"s{status}") or body or default
        responses[status] = {"model": model, "description": _DESCRIPTIONS[status]}
        if status in _HEADERS:
            responses[status]["headers"] = _HEADERS[status]
    return responses


def media_response(media_type: str, model: type[BaseModel]) -> dict[str, Any]:
    """A 200 answer of ``media_type`` (e.g. ``application/geo+json``) whose body follows
    ``model`` (the route's ``response_model``, which puts the schema in the components)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"content": {media_type: {"schema": ref}}}


def _iso(value: datetime) -> str:
    return value.isoformat()


# A time with its UTC offset, written as ISO 8601 (``2025-01-01T08:00:00+08:00``).
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
