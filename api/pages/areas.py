"""``/app/areas``: the 15-minute life circle for any signed-in account.

- the walk limit (facility kind, minutes, walking speed) in a form, within the API's range;
- the service areas and the buildings beyond the limit on a map: grids and districts from the
  vector tiles, the walk areas and gaps fetched for the map's view from ``GET /service-areas``
  and ``GET /service-areas/gaps`` with a ``bbox`` (``static/areas.js``), never the whole city
  in the page;
- the gaps per community or district (``gis.service_areas.gaps``, the numbers of ``GET
  /service-areas/gaps``): paged, sorted by the residents beyond the limit, each row zooming the
  map to its unit;
- siting: new stations among the buildings, the other facilities or points typed in, solved as
  ``POST /service-areas/siting`` does (HiGHS, with the greedy baseline), posted by htmx into
  the page (or as a plain form); a full pool of heavy computations answers "busy, try again".

The API shows the life circle of the whole city to every account (``read_analytics``), and so
does the page; it asks for an account (``read_own_account``): anonymous browsers sign in first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, text

from api.auth import require
from api.deps import EngineDep
from api.heavy import HeavyPool, get_heavy_pool
from api.pages.i18n import LANGUAGES, negotiate, translations
from api.pages.render import REFUSED_CONTENT, page_url, render_page
from api.pages.resident import MAP_ASSETS, _city_bounds
from api.schemas.common import COMMON_ERRORS, error_responses
from api.session import check_csrf
from gis.access.policy import Access, Permission
from gis.core.errors import Busy, InvalidInput
from gis.service_areas.gaps import Gaps, UnitTotals, find_gaps
from gis.service_areas.siting import MAX_NEW_SITES, Siting, site_stations
from gis.service_areas.walk import (
    DEFAULT_KIND,
    DEFAULT_MINUTES,
    DEFAULT_WALK_SPEED_KMH,
    MAX_MINUTES,
    MAX_WALK_SPEED_KMH,
    MIN_WALK_SPEED_KMH,
    WalkLimit,
    check_limit,
)
from gis.territory.importing import FACILITY_KINDS

AREAS_PATH = "/app/areas"
SITING_PATH = "/app/areas/siting"
PAGE_PERMISSION = Permission.READ_OWN_ACCOUNT
PAGE_SIZE = 20
# Buildings beyond the limit the map asks for per view (the farthest first).
MAP_GAPS = 500
# Points typed in as candidates: one "lon,lat,label" a line.
MAX_POINT_LINES = 2000
LEVELS = ("community", "district")
ORDERS = ("desc", "asc")
CANDIDATE_CHOICES = ("buildings", "facilities", "points")


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction")
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


KIND_NAMES: dict[str, str] = {
    "service_station": N_("service station"),
    "checkpoint": N_("checkpoint"),
    "waste_point": N_("waste point"),
    "camera": N_("camera"),
    "manhole": N_("manhole"),
    "hydrant": N_("hydrant"),
    "other": N_("other facility"),
}
CANDIDATE_NAMES: dict[str, str] = {
    "buildings": N_("the buildings"),
    "facilities": N_("the other facilities"),
    "points": N_("points I type in"),
}

_HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}
_REFUSED: dict[str, Any] = {"content": REFUSED_CONTENT}
_PAGE: dict[int | str, Any] = {
    200: {**_HTML, "description": "the page"},
    422: {**_REFUSED, "description": "a walk limit out of range: the page, saying which"},
    503: {**_HTML, "description": "the heavy computations are all busy: try again (Retry-After)"},
}
_SITING: dict[int | str, Any] = {
    200: {**_HTML, "description": "the siting's result (htmx: the fragment; else the page)"},
    422: {**_REFUSED, "description": "bad input: the form's answer names it"},
    503: {**_HTML, "description": "the heavy computations are all busy: try again (Retry-After)"},
}
_LANG = "the page's language: zh-CN (default) or en; else the browser's Accept-Language"

router = APIRouter(
    tags=["pages"], default_response_class=HTMLResponse, responses=error_responses(*COMMON_ERRORS)
)


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(negotiate(request)).gettext


class PageInputError(Exception):
    """Bad input a page names in the reader's language (shown in the page, 422)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _number(value: str | None, default: float, low: float, high: float, message: str) -> float:
    if value is None or not value.strip():
        return default
    try:
        number = float(value.strip().replace("，", ","))
    except ValueError:
        raise PageInputError(message, "") from None
    if not (low <= number <= high) or number != number:
        raise PageInputError(message, "")
    return number


def parse_limit(
    gettext: Callable[[str], str], kind: str | None, minutes: str | None, speed: str | None
) -> WalkLimit:
    """The walk limit from the form's text, or ``PageInputError`` naming the field."""
    kind = kind or DEFAULT_KIND
    if kind not in FACILITY_KINDS:
        raise PageInputError(gettext("Facility kind: choose one of the list."), "kind")
    try:
        walk_minutes = _number(
            minutes,
            DEFAULT_MINUTES,
            0.1,
            MAX_MINUTES,
            gettext("Walk limit: a number of minutes from 0.1 to %(max)g.") % {"max": MAX_MINUTES},
        )
    except PageInputError as exc:
        raise PageInputError(exc.message, "minutes") from None
    try:
        walk_speed = _number(
            speed,
            DEFAULT_WALK_SPEED_KMH,
            MIN_WALK_SPEED_KMH,
            MAX_WALK_SPEED_KMH,
            gettext("Walking speed: a number of km/h from %(low)g to %(high)g.")
            % {"low": MIN_WALK_SPEED_KMH, "high": MAX_WALK_SPEED_KMH},
        )
    except PageInputError as exc:
        raise PageInputError(exc.message, "walk_speed_kmh") from None
    return check_limit(kind=kind, minutes=walk_minutes, walk_speed_kmh=walk_speed)


def parse_new_sites(gettext: Callable[[str], str], value: str) -> int:
    message = gettext("Number of new stations: a whole number from 1 to %(max)d.") % {
        "max": MAX_NEW_SITES
    }
    try:
        number = int(value.strip())
    except ValueError:
        raise PageInputError(message, "new_sites") from None
    if not 1 <= number <= MAX_NEW_SITES:
        raise PageInputError(message, "new_sites")
    return number


def parse_points(gettext: Callable[[str], str], value: str) -> list[dict[str, Any]]:
    """Candidate points typed one a line as ``lon,lat`` or ``lon,lat,label``."""
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if not lines:
        raise PageInputError(
            gettext("Candidate points: type one point a line, as longitude,latitude,label."),
            "points",
        )
    if len(lines) > MAX_POINT_LINES:
        raise PageInputError(
            gettext("Candidate points: at most %(max)d lines.") % {"max": MAX_POINT_LINES},
            "points",
        )
    points = []
    for number, line in enumerate(lines, 1):
        parts = [p.strip() for p in line.replace("，", ",").split(",", 2)]
        try:
            lon, lat = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise PageInputError(
                gettext(
                    "Candidate points, line %(line)d: expected longitude,latitude,label, "
                    "got %(text)s."
                )
                % {"line": number, "text": line[:80]},
                "points",
            ) from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise PageInputError(
                gettext(
                    "Candidate points, line %(line)d: longitude from -180 to 180, latitude "
                    "from -90 to 90."
                )
                % {"line": number},
                "points",
            )
        label = parts[2] if len(parts) > 2 and parts[2] else f"P{number}"
        points.append({"lon": lon, "lat": lat, "label": label[:200]})
    return points


@dataclass(frozen=True)
class TableQuery:
    level: str = "community"
    order: str = "desc"
    page: int = 1


def _sorted_units(gaps: Gaps, query: TableQuery) -> list[UnitTotals]:
    units = gaps.by_community if query.level == "community" else gaps.by_district
    # Residents beyond first (or last), then by code: a stable order to page through.
    by_code = sorted(units, key=lambda u: u.code or "~")
    return sorted(by_code, key=lambda u: u.beyond_residents, reverse=query.order == "desc")


def _unit_bounds(engine: Engine, level: str, codes: list[str]) -> dict[str, str]:
    table = "communities" if level == "community" else "districts"
    if not codes:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT code, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "  # noqa: S608 (a fixed table name)
                f"(SELECT code, ST_Extent(geom)::box2d AS e FROM {table} "
                "WHERE code = ANY(:codes) GROUP BY code) x"
            ),
            {"codes": codes},
        ).all()
    return {
        str(code): ",".join(f"{float(v):.6f}" for v in box)
        for code, *box in rows
        if box[0] is not None
    }


def _limit_params(limit: WalkLimit) -> dict[str, str]:
    return {
        "kind": limit.kind,
        "minutes": f"{limit.minutes:g}",
        "walk_speed_kmh": f"{limit.walk_speed_kmh:g}",
    }


def _gaps_context(
    engine: Engine, pool: HeavyPool, limit: WalkLimit, query: TableQuery, lang: str
) -> dict[str, Any]:
    with pool.slot("the life circle's gaps"), engine.connect() as conn:
        gaps = find_gaps(
            conn,
            kind=limit.kind,
            minutes=limit.minutes,
            walk_speed_kmh=limit.walk_speed_kmh,
            limit=0,
        )
    units = _sorted_units(gaps, query)
    pages = max(1, -(-len(units) // PAGE_SIZE))
    page = min(query.page, pages)
    rows = units[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    bounds = _unit_bounds(engine, query.level, [u.code for u in rows if u.code])
    params = _limit_params(limit)

    def table_link(**change: str) -> str:
        current = {"level": query.level, "order": query.order, "page": str(page)}
        return page_url(AREAS_PATH, **params, **(current | change), lang=lang) + "#gaps"

    return {
        "gaps": gaps,
        "rows": [{"unit": u, "bounds": bounds.get(u.code or "", "")} for u in rows],
        "units": len(units),
        "page": page,
        "pages": pages,
        "table_link": table_link,
    }


def _map_context(engine: Engine, limit: WalkLimit) -> dict[str, Any]:
    params = _limit_params(limit)
    return {
        "bounds": ",".join(str(v) for v in _city_bounds(engine) or []),
        "areas_url": page_url("/service-areas", **params),
        "gaps_url": page_url("/service-areas/gaps", **params, limit=str(MAP_GAPS)),
    }


def _choices(gettext: Callable[[str], str]) -> dict[str, Any]:
    return {
        "kinds": [(k, gettext(KIND_NAMES.get(k, k))) for k in FACILITY_KINDS],
        "candidate_choices": [(c, gettext(CANDIDATE_NAMES[c])) for c in CANDIDATE_CHOICES],
        "max_minutes": MAX_MINUTES,
        "min_speed": MIN_WALK_SPEED_KMH,
        "max_speed": MAX_WALK_SPEED_KMH,
        "max_new_sites": MAX_NEW_SITES,
        "max_point_lines": MAX_POINT_LINES,
    }


def _busy_text(gettext: Callable[[str], str], exc: Busy) -> str:
    return gettext("The server is busy with other heavy computations: try again in %(s)d s.") % {
        "s": exc.retry_after_s
    }


def _busy_headers(exc: Busy) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after_s)}


async def _page(
    request: Request,
    engine: Engine,
    access: Access,
    *,
    kind: str | None,
    minutes: str | None,
    walk_speed_kmh: str | None,
    query: TableQuery,
    status_code: int = 200,
    siting: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    gettext = _gettext(request)
    lang = LANGUAGES[negotiate(request)]
    pool = get_heavy_pool(request)
    error = error_field = notice = None
    headers: dict[str, str] = {}
    try:
        limit = parse_limit(gettext, kind, minutes, walk_speed_kmh)
    except PageInputError as exc:
        error, error_field, status_code = exc.message, exc.field, 422
        limit = check_limit()
    table: dict[str, Any] = {}
    if error is None:
        try:
            table = await run_in_threadpool(_gaps_context, engine, pool, limit, query, lang)
        except Busy as exc:
            notice, status_code, headers = _busy_text(gettext, exc), 503, _busy_headers(exc)
    context = await run_in_threadpool(_map_context, engine, limit)
    response = render_page(
        request,
        "areas.html",
        principal=access.principal,
        status_code=status_code,
        limit=limit,
        limit_m=round(limit.limit_m),
        kind_label=gettext(KIND_NAMES.get(limit.kind, limit.kind)),
        values={
            "kind": kind or limit.kind,
            "minutes": minutes if error_field == "minutes" else f"{limit.minutes:g}",
            "walk_speed_kmh": (
                walk_speed_kmh if error_field == "walk_speed_kmh" else f"{limit.walk_speed_kmh:g}"
            ),
        },
        error=error,
        error_field=error_field,
        notice=notice,
        query=query,
        siting_url=page_url(SITING_PATH, lang=lang),
        siting=siting,
        form=form or {"new_sites": "2", "candidates": "facilities", "points": ""},
        assets=MAP_ASSETS,
        **_choices(gettext),
        **table,
        **context,
    )
    response.headers.update(headers)
    return response


_Text = Annotated[str | None, Query(max_length=40)]
# The form's fields are text the page checks itself, naming a bad one in the page; the document
# says what they take (the pattern and enum documented, not enforced by the framework).
_KIND = "facility kind (empty: service_station)"
_KINDS: dict[str, Any] = {"enum": ["", *FACILITY_KINDS]}
_DECIMAL: dict[str, Any] = {"pattern": "^([0-9]{1,3}(\\.[0-9]{1,3})?)?$"}
_MINUTES = f"the walk limit, minutes from 0.1 to {MAX_MINUTES:g} (empty: {DEFAULT_MINUTES:g})"
_SPEED = (
    f"walking speed, km/h from {MIN_WALK_SPEED_KMH:g} to {MAX_WALK_SPEED_KMH:g} "
    f"(empty: {DEFAULT_WALK_SPEED_KMH:g})"
)


@router.get(AREAS_PATH, responses={**_PAGE, **error_responses(401)})
async def areas_page(
    request: Request,
    engine: EngineDep,
    access: Annotated[Access, require(PAGE_PERMISSION)],
    kind: Annotated[str, Query(max_length=40, description=_KIND, json_schema_extra=_KINDS)] = "",
    minutes: Annotated[
        str, Query(max_length=40, description=_MINUTES, json_schema_extra=_DECIMAL)
    ] = "",
    walk_speed_kmh: Annotated[
        str, Query(max_length=40, description=_SPEED, json_schema_extra=_DECIMAL)
    ] = "",
    level: Annotated[
        str, Query(pattern="^(community|district)$", description="the gaps table's units")
    ] = "community",
    order: Annotated[
        str, Query(pattern="^(desc|asc)$", description="by residents beyond the limit")
    ] = "desc",
    page: Annotated[int, Query(ge=1, le=100_000, description="the table's page, from 1")] = 1,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """The life circle: walk areas and gaps on a map, gaps per unit, and siting new stations."""
    return await _page(
        request,
        engine,
        access,
        kind=kind,
        minutes=minutes,
        walk_speed_kmh=walk_speed_kmh,
        query=TableQuery(level=level, order=order, page=page),
    )


def _site(
    engine: Engine, pool: HeavyPool, limit: WalkLimit, new_sites: int, candidates: object
) -> Siting:
    with pool.slot("the siting"), engine.connect() as conn:
        return site_stations(
            conn,
            new_sites=new_sites,
            candidates=candidates,
            kind=limit.kind,
            minutes=limit.minutes,
            walk_speed_kmh=limit.walk_speed_kmh,
        )


def siting_view(siting: Siting) -> dict[str, Any]:
    """What the result shows: the numbers and the sites (the map draws them from JSON)."""
    share = (lambda n: 100.0 * n / siting.residents) if siting.residents else (lambda n: 0.0)
    return {
        "result": siting,
        "before_pct": share(siting.covered_before),
        "after_pct": share(siting.covered_after),
        "greedy_pct": share(siting.greedy_covered_after),
        "gain": siting.covered_after - siting.covered_before,
        "greedy_gain": siting.greedy_covered_after - siting.covered_before,
        "sites_json": json.dumps(
            [
                {"rank": k, "label": s.label, "lon": s.lon, "lat": s.lat, "new": s.new_residents}
                for k, s in enumerate(siting.sites, 1)
            ],
            ensure_ascii=False,
        ),
    }


@router.post(SITING_PATH, responses={**_SITING, **error_responses(401, 403)})
async def areas_siting(
    request: Request,
    engine: EngineDep,
    access: Annotated[Access, require(PAGE_PERMISSION)],
    new_sites: Annotated[
        str,
        Form(
            max_length=40,
            description=f"new stations, a whole number from 1 to {MAX_NEW_SITES}",
            json_schema_extra={"pattern": "^[0-9]{1,3}$"},
        ),
    ],
    candidates: Annotated[
        str,
        Form(
            max_length=20,
            description="buildings, facilities or points",
            json_schema_extra={"enum": list(CANDIDATE_CHOICES)},
        ),
    ] = "buildings",
    points: Annotated[
        str,
        Form(
            max_length=200_000,
            description=f"with candidates=points: one lon,lat[,label] a line (longitude -180 "
            f"to 180, latitude -90 to 90), 1 to {MAX_POINT_LINES} lines",
        ),
    ] = "",
    kind: Annotated[str, Form(max_length=40, description=_KIND, json_schema_extra=_KINDS)] = "",
    minutes: Annotated[
        str, Form(max_length=40, description=_MINUTES, json_schema_extra=_DECIMAL)
    ] = "",
    walk_speed_kmh: Annotated[
        str, Form(max_length=40, description=_SPEED, json_schema_extra=_DECIMAL)
    ] = "",
    csrf_token: Annotated[str, Form(description="the page's CSRF token")] = "",
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """Site ``new_sites`` stations as ``POST /service-areas/siting`` does; 403 without the
    page's CSRF token. htmx gets the result alone, a plain form the page with it."""
    await check_csrf(request)
    gettext = _gettext(request)
    form = {"new_sites": new_sites, "candidates": candidates, "points": points}
    status_code, headers = 200, {}
    siting: dict[str, Any]
    try:
        limit = parse_limit(gettext, kind, minutes, walk_speed_kmh)
        count = parse_new_sites(gettext, new_sites)
        if candidates not in CANDIDATE_CHOICES:
            raise PageInputError(gettext("Candidates: choose one of the list."), "candidates")
        chosen: object = parse_points(gettext, points) if candidates == "points" else candidates
        result = await run_in_threadpool(
            _site, engine, get_heavy_pool(request), limit, count, chosen
        )
    except PageInputError as exc:
        status_code = 422
        siting = {"error": exc.message, "field": exc.field}
    except InvalidInput as exc:
        status_code = 422
        siting = {
            "error": gettext("Not done: %(problem)s") % {"problem": exc.detail},
            "field": "",
        }
    except Busy as exc:
        status_code, headers = 503, _busy_headers(exc)
        siting = {"error": _busy_text(gettext, exc), "field": "", "busy": True}
    else:
        siting = siting_view(result)
    if request.headers.get("HX-Request") == "true":
        response = render_page(
            request,
            "areas_siting.html",
            principal=access.principal,
            status_code=status_code,
            siting=siting,
        )
    else:
        response = await _page(
            request,
            engine,
            access,
            kind=kind,
            minutes=minutes,
            walk_speed_kmh=walk_speed_kmh,
            query=TableQuery(),
            status_code=status_code,
            siting=siting,
            form=form,
        )
        response.status_code = status_code
    response.headers.update(headers)
    return response
