"""Input limits that hold for every endpoint, whatever its handler does.

- ``RequestGuard`` (ASGI middleware): a body larger than ``GRIDPATROL_MAX_BODY_BYTES`` (or a
  route's own limit, e.g. GPS tracks' ``GRIDPATROL_MAX_TRACK_BYTES``) is refused with 413
  before anything parses it — by ``Content-Length`` when sent, else by counting the streamed
  chunks; text that PostgreSQL cannot store (a NUL character, invalid
  UTF-8 or a lone surrogate) in the path, the query or a JSON/form body is refused with 422.
- ``CatchAll`` (ASGI middleware): an unexpected exception becomes a JSON 500 on a connection
  that stays open (Starlette's own handler re-raises, and uvicorn then drops the connection).
- ``check_parameters`` (an app-wide dependency): a scalar query parameter given twice, an
  integer beyond PostgreSQL's bigint, a non-finite float, or a bare number where a date-time
  is expected are refused with 422 naming the parameter, before the handler runs.

Their errors follow ``api.errors.error_content``: GeoReport v2's list on Open311 paths.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import BIGINT_MAX, walk_dependants
from api.errors import error_content, literal_methods
from api.kinds import Kind, parameter_kind
from gis.core.errors import InvalidInput

logger = logging.getLogger("gridpatrol.api")

_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")


async def _send_json(scope: Scope, send: Send, status: int, body: dict[str, Any]) -> None:
    status, content = error_content(scope["path"], status, body)
    payload = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _bad_text(text: str) -> str | None:
    """Why PostgreSQL could not store ``text`` (None: it can)."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (invalid Unicode)"
    return None


def _bad_percent_encoded(raw: bytes) -> str | None:
    try:
        return _bad_text(unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8"))
    except UnicodeDecodeError:
        return "is not valid UTF-8"


# Deeper than any document this API takes (a GeoJSON polygon is 5 levels, a feature
# collection 8): deeper nesting is refused before a recursive parser or validator meets it.
MAX_JSON_DEPTH = 64


def _strings(value: Any) -> Iterator[str]:
    """Every key and text value of a parsed JSON document (iterative: no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON document (a scalar: 0)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _bad_body(body: bytes, content_type: str) -> str | None:
    """Why the body cannot be taken (None: it can), as the end of "body: …"."""
    media_type = content_type.split(";")[0].strip()
    # No content type: FastAPI parses the body as JSON all the same.
    if not media_type or media_type.endswith(("/json", "+json")):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "is not valid UTF-8 (JSON must be)"
        try:
            document = json.loads(text)
        except RecursionError:
            return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        except ValueError:
            return None  # malformed JSON: the handler's parser names the problem
        if json_depth(document) > MAX_JSON_DEPTH:
            return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        why = next((why for s in _strings(document) if (why := _bad_text(s))), None)
        return f"a text value {why}" if why else None
    if content_type.startswith("application/x-www-form-urlencoded"):
        why = _bad_percent_encoded(body)
        return f"a text value {why}" if why else None
    return None


@dataclass(frozen=True)
class BodyLimit:
    """A route's own body limit: ``method`` requests whose path matches ``path``."""

    method: str
    path: re.Pattern[str]
    max_bytes: int


class RequestGuard:
    """Refuse oversized bodies (413) and unstorable text (422) before the app sees them."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, limits: Sequence[BodyLimit] = ()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limits = tuple(limits)

    def _limit(self, scope: Scope) -> int:
        return next(
            (
                limit.max_bytes
                for limit in self.limits
                if scope["method"] == limit.method and limit.path.fullmatch(scope["path"])
            ),
            self.max_body_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for part, raw in (("path", scope.get("raw_path") or b""), ("query", scope["query_string"])):
            why = _bad_percent_encoded(raw)
            if why:
                await _send_json(scope, send, 422, {"detail": f"{part}: {why}"})
                return
        headers = dict(scope["headers"])
        max_bytes = self._limit(scope)
        too_large = {"detail": f"request body larger than {max_bytes} bytes"}
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > max_bytes:
            await _send_json(scope, send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _send_json(scope, send, 413, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        why = _bad_body(body, headers.get(b"content-type", b"").decode("latin-1").lower())
        if why:
            await _send_json(scope, send, 422, {"detail": f"body: {why}"})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class HeadAsGet:
    """Answer ``HEAD`` as ``GET`` without the body (RFC 9110: every GET resource takes HEAD);
    FastAPI's routes list GET only, so a HEAD on a page or a layer was a 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class CatchAll:
    """Answer an unexpected exception with a logged JSON 500, keeping the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await _send_json(
                scope, send, 500, {"detail": "internal error: it has been logged for the operators"}
            )


# ----------------------------------------------------------------------------- parameters
# Kept on the route itself: a table keyed by id() could hand a new route the kinds of a
# discarded one (tests build many apps), and routes are not hashable.
_KINDS_ATTRIBUTE = "_gridpatrol_parameter_kinds"


def _route_kinds(route: APIRoute) -> tuple[dict[str, Kind], dict[str, Kind]]:
    """Query and path parameter kinds of a route, by alias (computed once per route)."""
    kinds: tuple[dict[str, Kind], dict[str, Kind]] | None = getattr(route, _KINDS_ATTRIBUTE, None)
    if kinds is None:
        query: dict[str, Kind] = {}
        path: dict[str, Kind] = {}
        for dependant in walk_dependants(route.dependant):
            for field in dependant.query_params:
                query[field.alias] = parameter_kind(field.field_info.annotation)
            for field in dependant.path_params:
                path[field.alias] = parameter_kind(field.field_info.annotation)
        kinds = (query, path)
        setattr(route, _KINDS_ATTRIBUTE, kinds)
    return kinds


def _check_value(name: str, kind: Kind, value: str) -> None:
    if kind == "int":
        try:
            number = int(value)
        except ValueError:
            return  # not an integer: the parameter's own validation names it
        if abs(number) > BIGINT_MAX:
            raise InvalidInput(f"{name}: {value} is out of range (at most {BIGINT_MAX})")
    elif kind == "float":
        try:
            number_f = float(value)
        except ValueError:
            return
        if not math.isfinite(number_f):
            raise InvalidInput(f"{name}: must be a finite number, got {value!r}")
    elif kind == "datetime" and _NUMBER.fullmatch(value.strip()):
        raise InvalidInput(
            f"{name}: expected an ISO 8601 date or date-time (2026-11-24T18:00:00+08:00), "
            f"got the number {value!r}"
        )


async def check_parameters(request: Request) -> None:
    """Refuse repeated scalars, out-of-range integers, non-finite floats, numbers as dates;
    a method that a concrete path does not take, matched by a templated route instead
    (``GET /patrols/plan`` by ``GET /patrols/{plan_id}``), is a 405, not that route's 422."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    literal = literal_methods(request)
    if literal is not None and request.method not in literal:
        raise HTTPException(405)  # api.errors lists the concrete path's methods in Allow
    query, path = _route_kinds(route)
    for name, kind in query.items():
        values = request.query_params.getlist(name)
        if kind != "sequence" and len(values) > 1:
            raise InvalidInput(f"{name}: given {len(values)} times; give it once")
        for value in values:
            _check_value(name, kind, value)
    for name, kind in path.items():
        raw = request.path_params.get(name)
        if isinstance(raw, str):
            _check_value(name, kind, raw)
