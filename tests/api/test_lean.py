"""``LeanRoute`` answers as FastAPI's own handler would: the same dependencies, run once each
in the same order, the same parameters, the same errors — and refuses what it cannot run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.testclient import TestClient

from api import lean
from api.errors import BadRequestRoute, add_exception_handlers
from api.lean import LeanRoute
from gis.core.errors import Forbidden, Unauthorized


def _calls(request: Request) -> list[str]:
    calls: list[str] = request.app.state.calls
    return calls


async def who(request: Request) -> str:
    _calls(request).append("who")
    name = request.headers.get("x-who", "anonymous")
    if name == "nobody":
        raise Unauthorized("nobody may ask")
    return name


async def app_wide(request: Request, name: Annotated[str, Depends(who)]) -> None:
    _calls(request).append(f"app:{request.url.path.split('/')[1]}")


async def gate(request: Request, name: Annotated[str, Depends(who)]) -> str:
    _calls(request).append("gate")
    if name == "mallory":
        raise Forbidden("not mallory")
    return name.upper()


async def endpoint(
    request: Request,
    layer: Annotated[str, Path()],
    z: Annotated[int, Path()],
    shout: Annotated[str, Depends(gate)],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    _calls(request).append("endpoint")
    body = f"{layer}|{z}|{shout}|{if_none_match}|{request.method}"
    return Response(content=body, media_type="text/plain", status_code=200 if z else 204)


def _app() -> FastAPI:
    """One endpoint twice — on FastAPI's handler (/plain) and on LeanRoute (/lean) — behind
    an app-wide, a router and a route dependency sharing a sub-dependency."""
    app = FastAPI(dependencies=[Depends(app_wide)])
    app.state.calls = []
    add_exception_handlers(app)
    for prefix, route_class in (("/plain", BadRequestRoute), ("/lean", LeanRoute)):
        router = APIRouter(prefix=prefix, route_class=route_class, dependencies=[Depends(who)])
        router.add_api_route("/{layer}/{z}.t", endpoint, methods=["GET"])
        app.include_router(router)
    return app


def _both(client: TestClient, path: str, headers: dict[str, str]) -> tuple[Any, Any]:
    """The answers of /plain and /lean to ``path``, each with the calls it made."""
    calls: list[str] = client.app.state.calls  # type: ignore[attr-defined]
    answers = []
    for prefix in ("/plain", "/lean"):
        calls.clear()
        response = client.get(prefix + path, headers=headers)
        answers.append((response, [c.replace(prefix[1:], "") for c in calls]))
    return answers[0], answers[1]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/grids/3.t", {}),
        ("/grids/0.t", {"If-None-Match": '"a", "b"', "X-Who": "li"}),
        ("/grids/-2.t", {"X-Who": "mallory"}),
        ("/grids/3.t", {"X-Who": "nobody"}),
        ("/grids/x.t", {}),
        ("/grids/3.5.t", {}),
        ("/grids/x.t", {"X-Who": "nobody"}),
        ("/grids/٣.t", {}),
    ],
)
def test_lean_route_answers_as_fastapi_does(path: str, headers: dict[str, str]) -> None:
    with TestClient(_app()) as client:
        (plain, plain_calls), (lean, lean_calls) = _both(client, path, headers)
    assert lean.status_code == plain.status_code
    assert lean.headers.get("content-type") == plain.headers.get("content-type")
    if plain.status_code == 400:
        # Both name the parameter; the wording of the two parsers differs.
        assert lean.json()["detail"].startswith("z: ") and plain.json()["detail"].startswith("z")
    else:
        assert lean.content == plain.content
    # Dependencies once each (the shared one cached), in FastAPI's order.
    assert lean_calls == plain_calls


def test_dependency_overrides_are_honoured() -> None:
    async def mallory() -> str:
        return "mallory"

    app = _app()
    app.dependency_overrides[who] = mallory
    with TestClient(app) as client:
        (plain, _), (lean, _) = _both(client, "/grids/3.t", {})
    assert lean.status_code == plain.status_code == 403


def _lean_app(**route: Any) -> Callable[[], TestClient]:
    """A client of an app with one LeanRoute made of ``route`` (endpoint, dependencies)."""

    def build() -> TestClient:
        app = FastAPI(dependencies=route.pop("app_dependencies", []))
        router = APIRouter(route_class=LeanRoute)
        router.add_api_route("/probe/{z}", methods=["GET"], **route)
        app.include_router(router)
        return TestClient(app)

    return build


async def _ok(z: int) -> Response:
    return Response(str(z))


def _sync_dependency(request: Request) -> None:
    return None


async def _with_query(q: Annotated[str, Query()]) -> None:
    return None


async def _float_path(z: float) -> Response:
    return Response(str(z))


async def _with_query_endpoint(z: int, q: str = "") -> Response:
    return Response(str(z))


@pytest.mark.parametrize(
    ("route", "word"),
    [
        ({"endpoint": _ok, "dependencies": [Depends(_sync_dependency)]}, "coroutine"),
        ({"endpoint": _ok, "app_dependencies": [Depends(_sync_dependency)]}, "coroutine"),
        ({"endpoint": _ok, "dependencies": [Depends(_with_query)]}, "query"),
        ({"endpoint": _float_path}, "neither int nor str"),
        ({"endpoint": _with_query_endpoint}, "query"),
    ],
)
def test_lean_route_refuses_what_it_cannot_run(route: dict[str, Any], word: str) -> None:
    """Refused when the handler is built (at the latest on the first request), naming why —
    never run without a dependency."""
    with pytest.raises(TypeError, match=word), _lean_app(**route)() as client:
        client.get("/probe/1")


def test_lean_route_refuses_to_start_without_fastapis_route_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FastAPI without the inclusion context would leave an included route's app and router
    dependencies unseen: the app is refused when it is built, not run without them."""
    # FastAPI's own code still needs its variable: the lean route looks for a missing name.
    monkeypatch.setattr(lean, "_CONTEXT_VARIABLE", "_no_such_context_var")
    with pytest.raises(RuntimeError, match="_no_such_context_var"):
        _app()
