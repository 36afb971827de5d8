"""One table from domain errors to HTTP statuses; every error body is ``{"detail": ...}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gis.core.errors import (
    Conflict,
    DatabaseUnavailable,
    GridpatrolError,
    ImportRejected,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Unavailable,
)

DEFAULT_STATUS_CODES: dict[type[GridpatrolError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    ImportRejected: 422,
    Conflict: 409,
    DatabaseUnavailable: 503,
    Unavailable: 503,
    GridpatrolError: 400,
}


def status_for(exc: GridpatrolError) -> int:
    """The status of the most specific class in the table."""
    for cls in type(exc).__mro__:
        if cls in DEFAULT_STATUS_CODES:
            return DEFAULT_STATUS_CODES[cls]
    return 400


def _field_message(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    where = ".".join(loc) or "request"
    return f"{where}: {error.get('msg', 'invalid')}"


def add_exception_handlers(app: FastAPI) -> None:
    """Install the domain-error and validation-error handlers on ``app``."""

    async def domain_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GridpatrolError)
        body: dict[str, object] = {"detail": exc.detail}
        if isinstance(exc, ImportRejected) and exc.problems:
            body["problems"] = exc.problems
        if isinstance(exc, InvalidTransition):
            body["current_status"] = exc.current_status
            body["allowed_actions"] = exc.allowed_actions
        return JSONResponse(status_code=status_for(exc), content=body)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        detail = "; ".join(_field_message(e) for e in errors)
        return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})

    app.add_exception_handler(GridpatrolError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
