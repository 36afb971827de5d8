"""``/app/patrols``: the patrol leader's page.

A dispatcher or admin (the roles that may plan and publish patrols, ``gis.access.policy``)
picks patrollers among the workers of the account's scope, the service station they start
from, the stop sources of ``POST /patrols/plan`` with their options, the objective and the
shift; the form becomes the same ``PlanRequest`` the API takes and is planned by the same
``api.routes.patrols.make_plan`` (scope check, capped solver budget, a slot of the heavy pool:
503 "busy, try again in N s" when none frees up). The answer is the plan's summary per
patroller, its unserved stops with their reasons, joint against by_district side by side,
and a map (``static/patrols.js``, fetching both plans from ``GET /patrols/{id}``) with each
patroller's route in its colour, numbered stops, and each mode a layer to toggle. Publishing
hands one of the two plans to the patrollers' worker accounts
(``gis.patrols.publishing.publish_plan_once``): a plan handed over already, or whose report
stops closed meanwhile, is refused with a 409 message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, text

from api.auth import require
from api.deps import BIGINT_MAX, CategoriesDep, EngineDep, PlanId, SettingsDep
from api.heavy import HeavyPoolDep
from api.pages.dispatch import category_names
from api.pages.i18n import LANGUAGES, negotiate, translations
from api.pages.render import REFUSED_CONTENT, page_url, render_page
from api.pages.resident import MAP_ASSETS
from api.routes.patrols import make_plan, plan_scope
from api.schemas.common import COMMON_ERRORS, error_responses
from api.session import check_csrf
from gis.access.policy import Access, Permission, Principal
from gis.core.errors import Busy, Forbidden, InvalidInput, NotFound
from gis.core.settings import Settings
from gis.patrols.answer import PlanOut, RouteOut
from gis.patrols.choices import PlanningChoices, planning_choices
from gis.patrols.publishing import PlanNotPublishable, publish_plan_once
from gis.patrols.request import DEFAULT_SHIFT_MINUTES, MAX_PATROLLERS, PlanRequest
from gis.patrols.scope import plan_codes
from gis.patrols.storage import get_plan
from gis.reports.categories import Category
from gis.territory.importing import FACILITY_KINDS
from maps.patrols import patroller_colour

PATROLS_PATH = "/app/patrols"
PLAN_PATH = "/app/patrols/plan"
PUBLISH_PATH = "/app/patrols/{plan_id}/publish"
# A leader plans tomorrow's rounds: the form starts there, at this hour.
DEFAULT_START_HOUR = 9


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction")
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


KIND_NAMES: dict[str, str] = {
    "report": N_("open report"),
    "hot_grid": N_("hot grid"),
    "stale_grid": N_("stale grid"),
    "facility": N_("facility"),
    "building": N_("building"),
    "point": N_("place"),
    "care_visit": N_("care visit"),
}
MODE_NAMES: dict[str, str] = {"joint": N_("joint"), "by_district": N_("by district")}
OBJECTIVE_NAMES: dict[str, str] = {"balanced": N_("balanced"), "shortest": N_("shortest")}
FACILITY_KIND_NAMES: dict[str, str] = {
    "service_station": N_("service station"),
    "checkpoint": N_("checkpoint"),
    "waste_point": N_("waste point"),
    "camera": N_("camera"),
}

_HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}
_PAGE: dict[int | str, Any] = {200: {**_HTML, "description": "the page"}}
_PLAN_ANSWERS: dict[int | str, Any] = {
    200: {**_HTML, "description": "htmx: the plan (summary, comparison, map) as a fragment"},
    303: {"description": "done: on to the page showing the plan"},
    404: {**_HTML, "description": "a worker, station, building or facility named is unknown"},
    422: {"content": REFUSED_CONTENT, "description": "the form is not a valid plan: what to fix"},
    503: {**_HTML, "description": "every planning slot is busy: try again in N s (Retry-After)"},
}
_PUBLISH_ANSWERS: dict[int | str, Any] = {
    303: {"description": "published: back to the plan"},
    409: {
        **_HTML,
        "description": "published already (this plan or its compared other mode), or a report "
        "on its routes closed meanwhile: the page again, saying so",
    },
}
_LANG = "the page's language: zh-CN (default) or en; else the browser's Accept-Language"

router = APIRouter(
    tags=["pages"], default_response_class=HTMLResponse, responses=error_responses(*COMMON_ERRORS)
)


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(negotiate(request)).gettext


_Text = Annotated[str, Field(max_length=200)]
_Number = Annotated[str, Field(max_length=20)]
_Flag = Annotated[str, Field(max_length=10, description="a checkbox: present when ticked")]
# Starlette parses at most 1,000 fields a form (a JSON 422 beyond): the lists stay well below.
_Codes = Annotated[list[str], Field(max_length=100)]


class PlanForm(BaseModel):
    """The leader's form as a browser sends it (text; ``plan_request`` reads it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    csrf_token: str = Field(default="", max_length=200, description="the page's CSRF token")
    name: _Text = ""
    date: str = Field(default="", max_length=20, description="the day, YYYY-MM-DD")
    time: str = Field(default="", max_length=20, description="the shift's start, HH:MM")
    shift_minutes: _Number = ""
    station: str = Field(default="", max_length=100, description="the station's code")
    workers: list[str] = Field(
        default_factory=list,
        max_length=MAX_PATROLLERS,
        description="the patrollers' worker codes",
    )
    mode: str = Field(default="joint", max_length=20, description="joint or by_district")
    compare: _Flag = ""
    objective: str = Field(default="", max_length=20, description="balanced or shortest")
    walk_speed_kmh: _Number = ""
    service_minutes: _Number = ""
    time_limit_s: _Number = ""
    open_reports: _Flag = ""
    hot_grids: _Flag = ""
    hot_confidence: _Number = ""
    hot_fdr: _Flag = ""
    hot_dwell_minutes: _Number = ""
    hot_categories: _Codes = []
    hot_since: _Number = ""
    hot_until: _Number = ""
    stale_grids: _Flag = ""
    stale_days: _Number = ""
    stale_dwell_minutes: _Number = ""
    facilities: Annotated[list[str], Field(max_length=len(FACILITY_KINDS))] = []
    buildings: str = Field(default="", max_length=100_000, description="building codes")
    points: str = Field(
        default="", max_length=100_000, description="one a line: lon, lat, label[, minutes]"
    )
    care_visits: _Flag = ""
    care_due_within_days: _Number = ""
    care_dwell_minutes: _Number = ""
    districts: str = Field(default="", max_length=10_000, description="district codes")
    communities: str = Field(default="", max_length=10_000, description="community codes")


_SPLIT = re.compile(r"[\s,;，；]+")


def _codes(value: str) -> list[str]:
    return [c for c in _SPLIT.split(value) if c]


def _set(target: dict[str, Any], key: str, value: str) -> None:
    """Put a field the person filled in (an empty one keeps the API's default)."""
    if value.strip():
        target[key] = value.strip()


def _points(value: str) -> list[dict[str, Any]]:
    points = []
    for n, line in enumerate(value.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in re.split(r"[,，]", line)]
        if len(parts) not in (3, 4) or not all(parts[:3]):
            raise InvalidInput(
                f"places, line {n}: write lon, lat, label (and minutes on site), not {line!r}"
            )
        point: dict[str, Any] = {"lon": parts[0], "lat": parts[1], "label": parts[2]}
        if len(parts) == 4 and parts[3]:
            point["service_minutes"] = parts[3]
        points.append(point)
    return points


def _day(value: str, field_name: str) -> str | None:
    """A date field as the naive start of that day (read in the server's zone)."""
    if not value.strip():
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d").isoformat()
    except ValueError:
        raise InvalidInput(f"{field_name}: not a date (YYYY-MM-DD): {value!r}") from None


def plan_request(
    form: PlanForm, *, choices: PlanningChoices, reaches: Callable[[list[str]], bool]
) -> PlanRequest:
    """The ``PlanRequest`` the form asks for: each ticked worker a patroller starting and
    ending at the station, in the worker's home district when the account reaches it (else
    the district holding the station, the API's default). ``InvalidInput`` names what to fix.
    """
    workers = {w["code"]: w for w in choices.workers}
    unknown = [code for code in form.workers if code not in workers]
    if unknown:
        # Out of scope or made up: the same answer (the API's rule for worker codes).
        raise Forbidden(f"workers: no worker with code {unknown[0]!r} in the account's scope")
    if not form.workers:
        raise InvalidInput("workers: tick at least one patroller")
    if not form.station.strip():
        raise InvalidInput("station: choose the station the patrollers start from")
    if not form.date.strip() or not form.time.strip():
        raise InvalidInput("date and time: give the day and the hour the shift starts")
    names = [workers[c]["name"] for c in form.workers]
    patrollers = []
    for code in dict.fromkeys(form.workers):
        worker = workers[code]
        patroller: dict[str, Any] = {
            "name": worker["name"]
            if names.count(worker["name"]) == 1
            else f"{worker['name']} {code}",
            "worker": code,
            "start": {"facility": form.station.strip()},
        }
        _set(patroller, "shift_minutes", form.shift_minutes)
        if worker["district"] and reaches([worker["district"]]):
            patroller["district"] = worker["district"]
        patrollers.append(patroller)
    stops: dict[str, Any] = {
        "open_reports": bool(form.open_reports),
        "facilities": list(form.facilities),
        "buildings": _codes(form.buildings),
        "points": _points(form.points),
    }
    if form.hot_grids:
        hot: dict[str, Any] = {"fdr": bool(form.hot_fdr)}
        _set(hot, "confidence", form.hot_confidence)
        _set(hot, "dwell_minutes", form.hot_dwell_minutes)
        if form.hot_categories:
            hot["categories"] = list(form.hot_categories)
        if since := _day(form.hot_since, "hot grids, since"):
            hot["since"] = since
        if until := _day(form.hot_until, "hot grids, until"):
            hot["until"] = until
        stops["hot_grids"] = hot
    if form.stale_grids:
        stale: dict[str, Any] = {}
        _set(stale, "days", form.stale_days)
        _set(stale, "dwell_minutes", form.stale_dwell_minutes)
        stops["stale_grids"] = stale
    if form.care_visits:
        care: dict[str, Any] = {}
        _set(care, "due_within_days", form.care_due_within_days)
        _set(care, "dwell_minutes", form.care_dwell_minutes)
        stops["care_visits"] = care
    if form.districts.strip():
        stops["districts"] = _codes(form.districts)
    if form.communities.strip():
        stops["communities"] = _codes(form.communities)
    body: dict[str, Any] = {
        "start_at": f"{form.date.strip()}T{form.time.strip()}",
        "mode": form.mode or "joint",
        "compare": bool(form.compare),
        "patrollers": patrollers,
        "stops": stops,
    }
    _set(body, "name", form.name)
    _set(body, "objective", form.objective)
    _set(body, "walk_speed_kmh", form.walk_speed_kmh)
    _set(body, "service_minutes", form.service_minutes)
    _set(body, "time_limit_s", form.time_limit_s)
    try:
        return PlanRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'plan'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(problems) from None


def _local(value: datetime | None, settings: Settings, fmt: str = "%H:%M") -> str:
    return "" if value is None else value.astimezone(settings.zone).strftime(fmt)


def _route_view(route: RouteOut, settings: Settings) -> dict[str, Any]:
    late = sum(1 for s in route.stops if s.late)
    return {
        "seq": route.seq,
        "colour": patroller_colour(route.seq),
        "name": route.patroller.name,
        "district": route.patroller.district or "",
        "stops": len(route.stops),
        "km": route.length_m / 1000,
        "minutes": route.duration_minutes,
        "shift_minutes": route.shift_minutes,
        "depart": _local(route.depart_at, settings),
        "back": _local(route.return_at, settings),
        "late": late,
        "published_to": route.published_to,
    }


def _plan_view(plan: PlanOut, settings: Settings, gettext: Callable[[str], str]) -> dict[str, Any]:
    return {
        "id": plan.id,
        "mode": plan.mode,
        "mode_label": gettext(MODE_NAMES[plan.mode]),
        "objective": plan.objective,
        "objective_label": gettext(OBJECTIVE_NAMES[plan.objective]),
        "km": plan.total_length_m / 1000,
        "minutes": plan.total_minutes,
        "served": plan.served,
        "over_capacity": plan.over_capacity,
        "routes": [_route_view(r, settings) for r in plan.routes],
        "unserved": [
            {
                "kind": gettext(KIND_NAMES.get(s.kind, s.kind)),
                "what": s.label or s.ref,
                "grid": s.grid_code or "",
                "reason_code": s.reason_code,
                "reason": s.reason,
            }
            for s in plan.unserved
        ],
        "published": any(r.published_at for r in plan.routes),
        "publish_url": PUBLISH_PATH.format(plan_id=plan.id),
    }


def _plans(engine: Engine, plan_id: int, principal: Principal) -> list[PlanOut]:
    """The plan and, if it was compared, the other mode's (the asked one first)."""
    with engine.connect() as conn:
        codes = plan_codes(conn, plan_id)
        Access(principal, Permission.READ_PATROLS).check(codes)
        plan = get_plan(conn, plan_id)
        other = plan.alternative.id if plan.alternative else plan.alternative_of
        return [plan] if other is None else [plan, get_plan(conn, other)]


def _result(
    request: Request, engine: Engine, settings: Settings, principal: Principal, plan_id: int
) -> dict[str, Any]:
    gettext = _gettext(request)
    plans = _plans(engine, plan_id, principal)
    main = next((p for p in plans if p.comparison is not None), plans[0])
    views = [_plan_view(p, settings, gettext) for p in plans]
    comparison = main.comparison
    return {
        "plan": views[0],
        "plans": views,
        "plan_name": main.name or "",
        "plan_start": _local(main.start_at, settings, "%Y-%m-%d %H:%M"),
        "comparison": comparison,
        "pair_published": any(v["published"] for v in views),
        "map_plans": ",".join(str(p.id) for p in plans),
        "map_modes": ",".join(p.mode for p in plans),
    }


def _form_context(
    request: Request,
    engine: Engine,
    settings: Settings,
    access: Access,
    categories: dict[str, Category],
) -> dict[str, Any]:
    gettext = _gettext(request)
    with engine.connect() as conn:
        choices = planning_choices(conn, scopes=access.scopes)
        bounds = conn.execute(
            # The city's extent, for the map before a plan is drawn.
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM districts) x"
            )
        ).one()
    tomorrow = datetime.now(settings.zone) + timedelta(days=1)
    names = category_names(settings, gettext)
    return {
        "choices": choices,
        "facility_kinds": [
            (k, gettext(FACILITY_KIND_NAMES[k]) if k in FACILITY_KIND_NAMES else k)
            for k in choices.facility_kinds
        ],
        "categories": [(code, names.get(code, code)) for code in sorted(categories)],
        "default_date": tomorrow.strftime("%Y-%m-%d"),
        "default_time": f"{DEFAULT_START_HOUR:02d}:00",
        "default_shift": int(DEFAULT_SHIFT_MINUTES),
        "max_time_limit_s": settings.plan_max_time_limit_s,
        "bounds": "" if bounds[0] is None else ",".join(f"{b:.6f}" for b in bounds),
        "plan_url": page_url(PLAN_PATH, lang=LANGUAGES[negotiate(request)]),
        "timezone": settings.timezone,
    }


async def _page(
    request: Request,
    engine: Engine,
    settings: Settings,
    access: Access,
    categories: dict[str, Category],
    *,
    plan_id: int | None,
    status_code: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    def build() -> dict[str, Any]:
        context = _form_context(request, engine, settings, access, categories)
        if plan_id is not None:
            context |= _result(request, engine, settings, access.principal, plan_id)
        return context

    context = await run_in_threadpool(build)
    return render_page(
        request,
        "patrols.html",
        principal=access.principal,
        status_code=status_code,
        assets=MAP_ASSETS,
        notice=notice,
        error=error,
        **context,
    )


@router.get(PATROLS_PATH, responses={**_PAGE, **error_responses(403, 404)})
async def patrols_page(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    categories: CategoriesDep,
    access: Annotated[Access, require(Permission.PLAN_PATROLS)],
    plan: Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="the plan to show")] = None,
    published: Annotated[
        int | None, Query(ge=0, le=10_000, description="routes just handed over (a notice)")
    ] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """The patrol leader's page: the planning form, and a plan with its comparison and map."""
    notice = None
    if published is not None and plan is not None:
        gettext = _gettext(request)
        notice = (
            gettext("Published: %(n)d route(s) handed to the patrollers' accounts.")
            % {"n": published}
            if published
            else gettext("No route was handed over: no patroller has a worker account.")
        )
    return await _page(request, engine, settings, access, categories, plan_id=plan, notice=notice)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


@router.post(PLAN_PATH, responses={**_PLAN_ANSWERS, **error_responses(403)})
async def plan_from_page(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    categories: CategoriesDep,
    pool: HeavyPoolDep,
    access: Annotated[Access, require(Permission.PLAN_PATROLS)],
    form: Annotated[PlanForm, Form()],
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Plan the form's patrols as ``POST /patrols/plan`` does; 403 without the CSRF token.
    htmx gets the plan as a fragment, a browser without script the page showing it."""
    await check_csrf(request)
    gettext = _gettext(request)
    lang_tag = LANGUAGES[negotiate(request)]

    def work() -> int:
        with engine.connect() as conn:
            choices = planning_choices(conn, scopes=access.scopes)
        body = plan_request(form, choices=choices, reaches=access.allows)
        return make_plan(
            access=access,
            body=body,
            engine=engine,
            settings=settings,
            categories=categories,
            pool=pool,
        ).id

    headers: dict[str, str] = {}
    try:
        plan_id = await run_in_threadpool(work)
    except Busy as exc:
        status_code, problem = (
            503,
            gettext("Every planning slot is busy. Try again in %(s)d s.")
            % {"s": exc.retry_after_s},
        )
        headers["Retry-After"] = str(exc.retry_after_s)
    except (InvalidInput, NotFound, Forbidden) as exc:
        status_code = (
            422 if isinstance(exc, InvalidInput) else 404 if isinstance(exc, NotFound) else 403
        )
        problem = gettext("Not planned: %(problem)s") % {"problem": exc.detail}
    else:
        target = page_url(PATROLS_PATH, plan=str(plan_id), lang=lang_tag)
        if not _is_htmx(request):
            return RedirectResponse(target, status_code=303)
        context = await run_in_threadpool(
            _result, request, engine, settings, access.principal, plan_id
        )
        response = render_page(
            request, "patrols_result.html", principal=access.principal, **context
        )
        response.headers["HX-Push-Url"] = target
        return response
    if _is_htmx(request):
        response = render_page(
            request,
            "patrols_problem.html",
            principal=access.principal,
            status_code=status_code,
            error=problem,
        )
    else:
        response = await _page(
            request,
            engine,
            settings,
            access,
            categories,
            plan_id=None,
            status_code=status_code,
            error=problem,
        )
    response.headers.update(headers)
    return response


@router.post(PUBLISH_PATH, responses={**_PUBLISH_ANSWERS, **error_responses(403, 404)})
async def publish_from_page(
    request: Request,
    plan_id: PlanId,
    engine: EngineDep,
    settings: SettingsDep,
    categories: CategoriesDep,
    access: Annotated[Access, require(Permission.PUBLISH_PATROLS, scope_of=plan_scope)],
    csrf_token: Annotated[str, Form(description="the page's CSRF token")] = "",
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Hand the plan's routes to its patrollers' worker accounts, once; 409 (the page saying
    why) when it or its compared other mode was handed over already, or is out of date."""
    await check_csrf(request)
    gettext = _gettext(request)

    def publish() -> int:
        with engine.begin() as conn:
            plan = publish_plan_once(conn, plan_id)
        return sum(1 for r in plan.routes if r.published_to)

    try:
        handed = await run_in_threadpool(publish)
    except PlanNotPublishable as exc:
        notice = (
            gettext("Not published: this plan or its other mode was published already.")
            if exc.code == "published"
            else gettext("Not published: the plan is out of date. Plan again.")
        )
        return await _page(
            request,
            engine,
            settings,
            access,
            categories,
            plan_id=plan_id,
            status_code=409,
            error=f"{notice} ({exc.detail})",
        )
    target = page_url(
        PATROLS_PATH,
        plan=str(plan_id),
        published=str(handed),
        lang=LANGUAGES[negotiate(request)],
    )
    return RedirectResponse(f"{target}#result", status_code=303)
