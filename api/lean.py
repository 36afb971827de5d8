"""Routes on hot paths, answered without FastAPI's generic request handler.

A ``LeanRoute`` is declared like any other route: its signature documents the operation in
OpenAPI, the permission walk finds its ``require``, and every middleware and exception handler
sees its requests. What it leaves out is FastAPI's per-request machinery — the dependency
solver, pydantic validation of each parameter, response serialisation — which costs about
0.2 ms a request, as much as PostGIS takes for a small vector tile.

In its place the route runs exactly the dependencies it declares (the app's, its router's and
its own, e.g. the principal and its ``require``) in FastAPI's order, each call once per
request, and reads its own path and header parameters. What it could not run as FastAPI
would is refused with ``TypeError`` when the handler is built — a dependency that is not a
coroutine or takes anything but the request and other dependencies, a query, cookie or body
parameter, a path parameter other than ``int``/``str``, a header other than an optional
``str`` — so a dependency added to the app later runs here too, or the app does not start.
With ``dependency_overrides`` set (tests), requests take FastAPI's own handler.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import fastapi
from fastapi import Request, Response
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant

from api.errors import BadRequestRoute
from api.kinds import parameter_kind
from gis.core.errors import InvalidParameter

# Longer is out of any range a path takes (and int() refuses thousands of digits).
_INTEGER = re.compile(r"-?[0-9]{1,20}")


@dataclass(frozen=True)
class _Step:
    """One dependency call: its inputs are the request and results of earlier steps."""

    call: Callable[..., Awaitable[Any]]
    inputs: tuple[tuple[str, int], ...]
    request_param: str | None


@dataclass(frozen=True)
class _Parameter:
    """A path or header parameter of the endpoint: its name, where it is read, its type."""

    name: str
    key: str
    integer: bool


def _is_coroutine_callable(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 (a security scheme is an instance)
    )


def _refuse(what: str, dependant: Dependant) -> TypeError:
    name = getattr(dependant.call, "__name__", type(dependant.call).__name__)
    return TypeError(f"LeanRoute cannot run {name}: {what}; use an ordinary route")


def _check_plain(dependant: Dependant, *, endpoint: bool) -> None:
    """Refuse what the lean handler would not run the way FastAPI does."""
    if not _is_coroutine_callable(dependant.call):
        raise _refuse("it is not a coroutine", dependant)
    if dependant.query_params or dependant.cookie_params or dependant.body_params:
        raise _refuse("it takes query, cookie or body parameters", dependant)
    if not endpoint and (dependant.path_params or dependant.header_params):
        raise _refuse("a dependency takes path or header parameters", dependant)
    special = (
        dependant.websocket_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    if any(special) or dependant.own_oauth_scopes:
        raise _refuse("it takes a special parameter or security scopes", dependant)


def _request_param(dependant: Dependant) -> str | None:
    """The parameter that takes the request (a ``Request`` or an ``HTTPConnection``)."""
    if dependant.request_param_name and dependant.http_connection_param_name:
        raise _refuse("it takes the request twice", dependant)
    return dependant.request_param_name or dependant.http_connection_param_name


def _flatten(
    dependant: Dependant, steps: list[_Step], done: dict[Any, int]
) -> list[tuple[str | None, int]]:
    """Append the dependencies of ``dependant`` to ``steps``, depth first as FastAPI solves
    them (a cached call once), and say which step feeds which parameter."""
    feeds: list[tuple[str | None, int]] = []
    for sub in dependant.dependencies:
        _check_plain(sub, endpoint=False)
        index = done.get(sub.call) if sub.use_cache else None
        if index is None:
            inputs = tuple((name, i) for name, i in _flatten(sub, steps, done) if name)
            call = typing.cast(Callable[..., Awaitable[Any]], sub.call)
            steps.append(_Step(call, inputs, _request_param(sub)))
            index = len(steps) - 1
            if sub.use_cache:
                done[sub.call] = index
        feeds.append((sub.name, index))
    return feeds


def _parameters(dependant: Dependant) -> tuple[list[_Parameter], list[_Parameter]]:
    """The endpoint's path and header parameters, refusing types the handler cannot read."""
    path = []
    for field in dependant.path_params:
        kind = parameter_kind(field.field_info.annotation)
        if kind not in ("int", "str"):
            raise _refuse(f"path parameter {field.name} is neither int nor str", dependant)
        path.append(_Parameter(field.name, field.alias, kind == "int"))
    headers = []
    for field in dependant.header_params:
        kind = parameter_kind(field.field_info.annotation)
        if kind != "str" or field.field_info.default is not None:
            raise _refuse(f"header {field.name} is not an optional str", dependant)
        key = field.alias
        if getattr(field.field_info, "convert_underscores", True):
            key = key.replace("_", "-")
        headers.append(_Parameter(field.name, key.lower(), False))
    return path, headers


def _effective_dependant(route: fastapi_routing.APIRoute) -> Dependant:
    """The dependant FastAPI would solve for ``route`` in the app being built.

    FastAPI builds an included route's handler once per app, with the app's and routers'
    dependencies in an "effective context" it sets while calling ``get_route_handler``
    (``APIRoute.get_route_handler`` reads it the same way); versions before it copied the
    route with those dependencies into ``route.dependant``, and are refused. A route built
    outside an inclusion (no context) has only its own dependant, as in FastAPI.
    """
    variable = getattr(fastapi_routing, _CONTEXT_VARIABLE, None)
    if variable is None:
        # Without it an included route's app and router dependencies (the principal, the
        # parameter checks) could not be found: the app does not start rather than run
        # without them.
        raise RuntimeError(
            f"LeanRoute needs fastapi.routing.{_CONTEXT_VARIABLE}, which this FastAPI "
            f"({fastapi.__version__}) lacks; pin a FastAPI that has it or use ordinary routes"
        )
    context = variable.get()
    if context is not None and context.original_route is route and context.dependant:
        dependant: Dependant = context.dependant
        return dependant
    return route.dependant


_CONTEXT_VARIABLE = "_effective_route_context_var"
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class LeanRoute(BadRequestRoute):
    """A route whose requests skip FastAPI's generic handler (see the module docstring);
    a malformed parameter is a 400 naming it, as on ``BadRequestRoute``."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        dependant = _effective_dependant(self)
        _check_plain(dependant, endpoint=True)
        steps: list[_Step] = []
        feeds = [(name, i) for name, i in _flatten(dependant, steps, {}) if name]
        path, headers = _parameters(dependant)
        request_param = _request_param(dependant)
        endpoint = typing.cast(Callable[..., Awaitable[Any]], dependant.call)

        async def handler(request: Request) -> Response:
            if request.app.dependency_overrides:
                return await standard(request)
            results: list[Any] = []
            for step in steps:
                kwargs = {name: results[i] for name, i in step.inputs}
                if step.request_param:
                    kwargs[step.request_param] = request
                results.append(await step.call(**kwargs))
            values: dict[str, Any] = {name: results[i] for name, i in feeds}
            if request_param:
                values[request_param] = request
            raw = request.path_params
            for parameter in path:
                value = raw[parameter.key]
                if parameter.integer:
                    if not _INTEGER.fullmatch(value):
                        raise InvalidParameter(
                            f"{parameter.key}: expected an integer, got {value[:40]!r}"
                        )
                    value = int(value)
                values[parameter.name] = value
            for parameter in headers:
                values[parameter.name] = request.headers.get(parameter.key)
            response = await endpoint(**values)
            if not isinstance(response, Response):
                raise TypeError(f"{self.path}: a LeanRoute endpoint returns a Response")
            return response

        return handler
