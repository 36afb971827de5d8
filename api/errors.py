"""One table from domain errors to HTTP statuses; every error body is ``{"detail": ...}``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from gis.core.errors import (
    Conflict,
    DatabaseUnavailable,
    GridpatrolError,
    ImportRejected,
    InvalidInput,
    InvalidParameter,
    InvalidTransition,
    NotFound,
    Unavailable,
)

DEFAULT_STATUS_CODES: dict[type[GridpatrolError], int] = {
    NotFound: 404,
    InvalidParameter: 400,
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


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """One line naming each parameter FastAPI refused and why."""
    return "; ".join(_field_message(e) for e in errors)


class BadRequestRoute(APIRoute):
    """A route whose malformed parameters answer 400 (``InvalidParameter``), not 422.

    OGC API Features and tile servers answer a bad query parameter or tile coordinate with
    400 Bad Request; clients such as GDAL expect it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise InvalidParameter(describe_validation_errors(list(exc.errors()))) from None

        return route_handler


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
        detail = describe_validation_errors(errors)
        return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})

    app.add_exception_handler(GridpatrolError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
