"""One table from domain errors to HTTP statuses; every error body is ``{"detail": ...}``.

Database failures are mapped here too: an unreachable database (connection refused, dropped,
pool exhausted) is a 503, a value the database refuses (out of range) a 422. Under
``/open311/v2/`` every error — these handlers', the request guard's, an unexpected one — is
GeoReport v2's list ``[{"code": status, "description": ...}]``, and a malformed request is a
400 there (the standard's status) instead of a 422.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from api.session import LOGIN_PATH
from gis.core.errors import (
    Busy,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    GridpatrolError,
    ImportRejected,
    InvalidInput,
    InvalidParameter,
    InvalidTransition,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)

logger = logging.getLogger("gridpatrol.api")

# Seconds a client is asked to wait when the database is away (a restart takes a few).
DATABASE_RETRY_AFTER_S = 5

DEFAULT_STATUS_CODES: dict[type[GridpatrolError], int] = {
    NotFound: 404,
    InvalidParameter: 400,
    InvalidInput: 422,
    ImportRejected: 422,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    RateLimited: 429,
    Busy: 503,
    DatabaseUnavailable: 503,
    Unavailable: 503,
    GridpatrolError: 400,
}
# Errors of the database driver that mean "the database is not there right now": through
# the engine, SQLAlchemy's; on the async pool of the tiles, psycopg's own (its PoolTimeout,
# no connection in time, is an OperationalError).
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


# Open311 GeoReport v2 lives under this prefix and answers errors in its own format.
OPEN311_PREFIX = "/open311/v2"


# OGC API Features and tile servers answer a malformed parameter with 400 (clients expect it).
BAD_REQUEST_PREFIXES = ("/ogc", "/tiles")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def error_content(path: str, status: int, body: dict[str, Any]) -> tuple[int, Any]:
    """The status and JSON body of an error on ``path``: ``body`` (``{"detail": ...}``) as is,
    or on Open311 paths GeoReport v2's error list (with 400 for a malformed request); OGC and
    tile paths answer a malformed request with 400 too."""
    if _under(path, OPEN311_PREFIX):
        status = 400 if status == 422 else status
        return status, [{"code": status, "description": str(body["detail"])}]
    if status == 422 and any(_under(path, prefix) for prefix in BAD_REQUEST_PREFIXES):
        return 400, body
    return status, body


def error_response(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error answer in the format of the request's path (see ``error_content``)."""
    status, content = error_content(request.url.path, status, body)
    return JSONResponse(status_code=status, content=content, headers=headers)


def headers_for(exc: GridpatrolError) -> dict[str, str]:
    """Headers an error's status calls for (RFC 6750 / RFC 9110)."""
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited | Busy):
        return {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, DatabaseUnavailable):
        return {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    return {}


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


def _route_table(app: Any) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """(path pattern, methods) of every route, included routers resolved (once per app)."""
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "route_methods", None
    )
    if table is None:
        table = [
            (compile_path(context.path)[0], frozenset(context.methods or ()))
            for context in iter_route_contexts(app.routes)
            if context.path is not None
        ]
        app.state.route_methods = table
    return table


def literal_methods(request: Request) -> frozenset[str] | None:
    """The methods of the routes whose path is the request's path as written (no parameter),
    or None when no route's is: OpenAPI matches such a concrete path before any templated one
    (``POST /patrols/plan`` before ``GET /patrols/{plan_id}``)."""
    table: dict[str, frozenset[str]] | None = getattr(request.app.state, "literal_methods", None)
    if table is None:
        table = {}
        for context in iter_route_contexts(request.app.routes):
            if context.path is not None and "{" not in context.path:
                methods = frozenset(context.methods or ())
                table[context.path] = table.get(context.path, frozenset()) | methods
        request.app.state.literal_methods = table
    return table.get(request.url.path)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes on the request's path (HEAD with GET); on a
    concrete path, those of its own routes only (a templated route's parameter would refuse
    the literal segment)."""
    path = request.url.path
    methods = set(literal_methods(request) or ()) or {
        m for pattern, ms in _route_table(request.app) if pattern.match(path) for m in ms
    }
    if "GET" in methods:
        methods.add("HEAD")
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


def is_page_navigation(request: Request) -> bool:
    """A browser opening a page (an HTML route, asked for HTML): not a script calling JSON."""
    if request.method not in ("GET", "HEAD") or "text/html" not in request.headers.get(
        "accept", ""
    ):
        return False
    answers = getattr(request.scope.get("route"), "response_class", None)
    if isinstance(answers, DefaultPlaceholder):
        answers = answers.value
    return isinstance(answers, type) and issubclass(answers, HTMLResponse)


def sign_in_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, which comes back to this page (``next``) once signed in."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': here})}", status_code=303)


def add_exception_handlers(app: FastAPI) -> None:
    """Install the domain-error and validation-error handlers on ``app``."""

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GridpatrolError)
        if isinstance(exc, Unauthorized) and is_page_navigation(request):
            # A person, not a client: a JSON 401 would be a dead end; sign in and come back.
            return sign_in_redirect(request)
        if isinstance(exc, Forbidden) and is_page_navigation(request):
            from api.pages.dispatch import refused_page  # the pages import this module

            return refused_page(request, exc.detail)
        body: dict[str, Any] = {"detail": exc.detail}
        if isinstance(exc, ImportRejected) and exc.problems:
            body["problems"] = exc.problems
        if isinstance(exc, InvalidTransition):
            body["current_status"] = exc.current_status
            body["allowed_actions"] = exc.allowed_actions
            if exc.current_version is not None:
                body["current_version"] = exc.current_version
        return error_response(request, status_for(exc), body, headers_for(exc))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        detail = describe_validation_errors(errors)
        return error_response(request, 422, {"detail": detail, "errors": errors})

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The driver's message may name hosts and users: logged, not sent. The engine hides
        # statement parameters (gis/core/db.py), so no resident's data reaches the log.
        logger.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        body = {"detail": "the database is unavailable; try again shortly"}
        return error_response(request, 503, body, {"Retry-After": str(DATABASE_RETRY_AFTER_S)})

    async def database_refused_value(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, sa_exc.DBAPIError)
        # PostgreSQL's primary message ("bigint out of range") names the problem; it may quote
        # the value, so the log keeps only the SQLSTATE.
        diag = getattr(exc.orig, "diag", None)
        reason = str(getattr(diag, "message_primary", "") or "")
        state = getattr(diag, "sqlstate", None)
        logger.info("value refused on %s %s: SQLSTATE %s", request.method, request.url.path, state)
        body = {"detail": f"a value is out of range or malformed: {reason or 'refused'}"}
        return error_response(request, 422, body)

    async def framework_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        # FastAPI raises 400 only when it cannot parse a body at all: malformed input, which
        # this API answers with 422 (Open311 turns it back into its 400). 404/405 keep theirs.
        status = 422 if exc.status_code == 400 else exc.status_code
        headers = dict(exc.headers) if exc.headers else None
        if status == 405:
            # Starlette names only the methods of the first route matching the path.
            headers = (headers or {}) | {"Allow": ", ".join(allowed_methods(request))}
        return error_response(request, status, {"detail": str(exc.detail)}, headers)

    app.add_exception_handler(HTTPException, framework_error)
    app.add_exception_handler(GridpatrolError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, database_unavailable)
    app.add_exception_handler(sa_exc.DataError, database_refused_value)
