"""``/app/worker``: the grid worker's page, phone first.

- **My open reports**: the reports dispatched to the account's linked worker
  (``gis.reports.queue.dispatch_queue`` with ``worker_code``: overdue first, then by the next
  deadline, with the time left in ``GRIDPATROL_TIMEZONE``), paged, each with a form for exactly
  the actions ``gis.reports.actions`` allows now that the account may take
  (``gis.access.policy``): arrive, resolve with a note. The form carries the version the worker
  saw, so a report someone else moved meanwhile (reassigned, escalated, resolved) answers 409
  and the page says what happened instead of applying the action on a stale view.
- **Today's route**: the route published to the account (``POST /patrols/{id}/publish``) that
  sets off today in the settings' timezone, on a Leaflet map of the grids (vector tiles from
  this server) with its path and numbered stops, and the ordered list of its stops.
- **Record the walk**: ``static/worker.js`` collects the phone's positions
  (``navigator.geolocation.watchPosition``), keeps them in ``localStorage`` and sends them as a
  GeoJSON track to ``POST /patrols/{id}/track`` (the API's own route and code, with the
  session cookie and the page's CSRF token in ``X-CSRF-Token``), then shows the match.
- **Care visits due**: the households in the account's scope whose visit is overdue or due
  within a week (``gis.households.listing``), each with a form recording a visit
  (``gis.households.visits.record_visit``, as ``POST /households/{household}/visits``).

Who opens it: the roles that may take the ``arrive`` action (grid workers, admins); a
dispatcher or analyst gets the 403 page (``api.errors``), an anonymous browser the sign-in
page. An admin, linked to no worker, sees the page with no report or route of its own (nothing
is dispatched or published to an admin account) and the care visits of its scope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine, text

from api.auth import require
from api.deps import BIGINT_MAX, EngineDep, ReportId, SettingsDep
from api.pages.dispatch import category_names, time_left
from api.pages.i18n import LANGUAGES, negotiate, translations
from api.pages.names import ACTION_NAMES, STATUS_NAMES
from api.pages.render import page_url, render_page
from api.pages.resident import MAP_ASSETS
from api.routes.households import household_scope
from api.routes.reports import report_scope
from api.schemas.common import COMMON_ERRORS, error_responses
from api.session import check_csrf
from gis.access.policy import (
    WORKER_ACTIONS,
    Access,
    Permission,
    Principal,
    allows,
    authorize,
    list_scopes,
    transition_permission,
)
from gis.access.scope import load_report_codes, report_codes
from gis.core.errors import Conflict, InvalidInput, InvalidTransition
from gis.core.settings import Settings
from gis.core.vocabulary import ASSIGNED_STATUSES, VISIT_OUTCOMES
from gis.households.listing import HouseholdFilter, household_grid, list_households
from gis.households.visits import MAX_NOTE_CHARS, VisitInput, record_visit
from gis.patrols.answer import PlanOut, RouteOut
from gis.patrols.publishing import PublishedRoute, routes_published_on
from gis.patrols.stops import StopKind
from gis.patrols.storage import get_plan
from gis.reports.actions import ACTIONS
from gis.reports.lifecycle import transition_report
from gis.reports.photos import MAX_PHOTO_BYTES, read_photo, store_photos
from gis.reports.queue import dispatch_queue

WORKER_PATH = "/app/worker"
REPORT_ACTION_PATH = "/app/worker/reports/{report_id}"
# The action form carries a photo: its body may pass the global limit by one photo's size.
REPORT_ACTION_PATTERN = re.compile(r"/app/worker/reports/[^/]+")
MAX_ACTION_BODY_BYTES = MAX_PHOTO_BYTES + 256 * 1024
VISIT_PATH = "/app/worker/households/{household}/visits"
# The page is for those who may act on site; each action's own permission decides the rest.
PAGE_PERMISSION = transition_permission("arrive")
# The actions this page offers (the worker's on-site ones); others are the dispatch desk's.
PAGE_ACTIONS = tuple(a for a in ACTIONS if a in WORKER_ACTIONS)
PAGE_SIZE = 10
VISITS_PAGE_SIZE = 10
MAX_ACTION_NOTE_CHARS = 2000


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction")
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


# What each kind of stop is, for the worker (one entry per ``StopKind``).
STOP_KIND_NAMES: dict[str, str] = {
    StopKind.REPORT: N_("report"),
    StopKind.HOT_GRID: N_("hot grid"),
    StopKind.STALE_GRID: N_("grid not patrolled lately"),
    StopKind.FACILITY: N_("facility"),
    StopKind.BUILDING: N_("building"),
    StopKind.POINT: N_("place"),
    StopKind.CARE_VISIT: N_("care visit"),
}
if set(STOP_KIND_NAMES) != set(StopKind):  # a kind added without its name on this page
    raise RuntimeError(f"stop kinds without a name: {sorted(set(StopKind) - set(STOP_KIND_NAMES))}")
OUTCOME_NAMES: dict[str, str] = {
    "met": N_("met"),
    "not_home": N_("not at home"),
    "refused": N_("refused the visit"),
}
CARE_NAMES: dict[str, str] = {
    "elderly_alone": N_("elderly, alone"),
    "disabled": N_("disabled"),
    "left_behind_child": N_("left-behind child"),
    "low_income": N_("low income"),
    "other": N_("other"),
}

_HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}
_PAGE: dict[int | str, Any] = {200: {**_HTML, "description": "the page"}}
_LANG = "the page's language: zh-CN (default) or en; else the browser's Accept-Language"

router = APIRouter(
    tags=["pages"], default_response_class=HTMLResponse, responses=error_responses(*COMMON_ERRORS)
)


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(negotiate(request)).gettext


def _local(value: str | datetime | None, settings: Settings, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(settings.zone).strftime(fmt)


def _reports(
    conn: Connection,
    request: Request,
    settings: Settings,
    principal: Principal,
    page: int,
    now: datetime,
) -> dict[str, Any]:
    """A page of the reports dispatched to the account's worker, with their actions."""
    if principal.worker_code is None:
        return {"reports": [], "total": 0, "pages": 1}
    gettext = _gettext(request)
    queue = dispatch_queue(
        conn,
        scopes=list_scopes(principal, PAGE_PERMISSION),
        statuses=ASSIGNED_STATUSES,
        worker_code=principal.worker_code,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    names = category_names(settings, gettext)
    for report in queue["reports"]:
        codes = report_codes(report)
        report["category_label"] = names.get(report["category"], report["category"])
        report["time_left"] = time_left(report["next_due_at"], now, gettext)
        report["next_due_local"] = _local(report["next_due_at"], settings)
        report["status_label"] = gettext(STATUS_NAMES.get(report["status"], report["status"]))
        report["actions"] = [
            {"name": a, "label": gettext(ACTION_NAMES[a]), "needs_note": ACTIONS[a].needs_note}
            for a in report["allowed_actions"]
            if a in PAGE_ACTIONS and allows(principal, transition_permission(a), codes)
        ]
    pages = max(1, -(-queue["total"] // PAGE_SIZE))
    return {"reports": queue["reports"], "total": queue["total"], "pages": pages}


def _route(
    conn: Connection, settings: Settings, principal: Principal, now: datetime
) -> tuple[PlanOut, RouteOut, int] | None:
    """Today's route published to the account: the first not yet over, else the last one;
    with the number of routes published for today."""
    if principal.name is None:
        return None
    today = now.astimezone(settings.zone).date()
    routes = routes_published_on(conn, account=principal.name, day=today, zone=settings.zone)
    if not routes:
        return None
    chosen: PublishedRoute = next((r for r in routes if r.return_at >= now), routes[-1])
    plan = get_plan(conn, chosen.plan_id)
    route = next(r for r in plan.routes if r.seq == chosen.seq)
    return plan, route, len(routes)


def _route_context(
    request: Request, settings: Settings, found: tuple[PlanOut, RouteOut, int] | None
) -> dict[str, Any]:
    if found is None:
        return {"route": None}
    gettext = _gettext(request)
    plan, route, count = found
    stops = [
        {
            "seq": s.seq,
            "number": n,
            "kind": s.kind.value,
            "kind_label": gettext(STOP_KIND_NAMES[s.kind]),
            "ref": s.ref,
            "label": s.label or "",
            "arrive_local": _local(s.arrive_at, settings, "%H:%M"),
            "late": s.late,
            "lat": s.lat,
            "lon": s.lon,
        }
        for n, s in enumerate(route.stops, start=1)
    ]
    line = route.geometry.coordinates if route.geometry else []
    drawn = {
        "path": [[lat, lon] for lon, lat, *_ in line],
        "stops": [{"n": s["number"], "lat": s["lat"], "lon": s["lon"]} for s in stops],
        "start": [route.start.lat, route.start.lon],
    }
    return {
        "route": route,
        "plan": plan,
        "routes_today": count,
        "stops": stops,
        "route_json": json.dumps(drawn, separators=(",", ":")),
        "depart_local": _local(route.depart_at, settings, "%H:%M"),
        "return_local": _local(route.return_at, settings, "%H:%M"),
        "length_km": f"{route.length_m / 1000:.2f}",
        "track_url": f"/patrols/{plan.id}/track?route={route.seq}",
        "walk_key": f"gridpatrol.walk.{plan.id}.{route.seq}",
    }


def _visits(
    conn: Connection,
    request: Request,
    settings: Settings,
    principal: Principal,
    page: int,
    now: datetime,
) -> dict[str, Any]:
    """The households of the account's scope whose visit is overdue or due within a week."""
    gettext = _gettext(request)
    listed = list_households(
        conn,
        filters=HouseholdFilter(due="week"),
        now=now,
        zone=settings.zone,
        scopes=list_scopes(principal, Permission.RECORD_VISIT),
        limit=VISITS_PAGE_SIZE,
        offset=(page - 1) * VISITS_PAGE_SIZE,
    )
    for household in listed["households"]:
        household["care_labels"] = [gettext(CARE_NAMES.get(c, c)) for c in household["care"]]
        household["last_met_local"] = _local(household["last_met_at"], settings, "%Y-%m-%d")
    pages = max(1, -(-listed["numberMatched"] // VISITS_PAGE_SIZE))
    return {
        "households": listed["households"],
        "households_total": listed["numberMatched"],
        "visit_pages": pages,
    }


async def _page(
    request: Request,
    engine: Engine,
    settings: Settings,
    principal: Principal,
    *,
    page: int = 1,
    visit_page: int = 1,
    status_code: int = 200,
    notice: str | None = None,
    notice_report: int | None = None,
    notice_household: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    now = datetime.now(UTC)

    def build() -> dict[str, Any]:
        with engine.connect() as conn:
            context = _reports(conn, request, settings, principal, page, now)
            context |= _route_context(request, settings, _route(conn, settings, principal, now))
            context |= _visits(conn, request, settings, principal, visit_page, now)
        return context

    context = await run_in_threadpool(build)
    gettext = _gettext(request)
    lang = LANGUAGES[negotiate(request)]

    def link(**params: int) -> str:
        chosen = {"page": page, "visits": visit_page} | params
        return page_url(WORKER_PATH, lang=lang, **{k: str(v) for k, v in chosen.items()})

    return render_page(
        request,
        "worker.html",
        principal=principal,
        status_code=status_code,
        notice=notice,
        done=done,
        notice_report=notice_report,
        notice_household=notice_household,
        page=page,
        visit_page=visit_page,
        link=link,
        assets=MAP_ASSETS,
        now_local=_local(now, settings),
        timezone=settings.timezone,
        action_url=lambda rid: page_url(REPORT_ACTION_PATH.format(report_id=rid), lang=lang),
        visit_url=lambda code: page_url(VISIT_PATH.format(household=code), lang=lang),
        outcomes=[(o, gettext(OUTCOME_NAMES[o])) for o in VISIT_OUTCOMES],
        limits={"note": MAX_ACTION_NOTE_CHARS, "visit_note": MAX_NOTE_CHARS},
        **context,
    )


_Page = Annotated[int, Query(ge=1, le=100_000, description="the page of my reports, from 1")]
_VisitPage = Annotated[
    int, Query(ge=1, le=100_000, description="the page of the care visits due, from 1")
]


@router.get(WORKER_PATH, responses={**_PAGE, **error_responses(403)})
async def worker_page(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    access: Annotated[Access, require(PAGE_PERMISSION, lists=True)],
    page: _Page = 1,
    visits: _VisitPage = 1,
    done: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="the report just acted on")
    ] = None,
    visited: Annotated[
        str | None, Query(max_length=100, description="the household just visited")
    ] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """The grid worker's page: my open reports, today's route, recording the walk, visits due."""
    gettext = _gettext(request)
    notice = None
    if done is not None:
        notice = gettext("Report %(id)s: done.") % {"id": done}
    elif visited:
        notice = gettext("Visit to %(household)s recorded.") % {"household": visited}
    return await _page(
        request,
        engine,
        settings,
        access.principal,
        page=page,
        visit_page=visits,
        done=notice,
    )


@router.post(
    REPORT_ACTION_PATH,
    responses={
        303: {"description": "done: back to the worker's page"},
        409: {**_HTML, "description": "someone else moved the report: the page, saying so"},
        **error_responses(403, 404),
    },
)
async def report_action(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    access: Annotated[Access, require(PAGE_PERMISSION, scope_of=report_scope)],
    report_id: ReportId,
    action: Annotated[
        str,
        Form(
            max_length=40,
            description="arrive or resolve",
            json_schema_extra={"enum": list(PAGE_ACTIONS)},
        ),
    ],
    csrf_token: Annotated[str, Form(description="the page's CSRF token")] = "",
    note: Annotated[str, Form(max_length=MAX_ACTION_NOTE_CHARS)] = "",
    version: Annotated[
        str, Form(max_length=20, description="the report's version as the page showed it")
    ] = "",
    photo: Annotated[
        UploadFile | None,
        File(description="resolve: a photo of the result (JPEG or PNG, at most 8 MB)"),
    ] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Arrive at, or resolve (with a note and optionally a photo), a report as the signed-in
    account; 403 without the CSRF token; 409 (the page, saying what happened) when the report
    moved meanwhile. The photo is stored with the action's event (``gis.reports.photos``:
    metadata stripped, outside the row); a refused photo leaves the report as it was."""
    principal = access.principal
    await check_csrf(request)
    gettext = _gettext(request)
    if action not in PAGE_ACTIONS:
        raise InvalidInput(
            f"action: this page takes {' or '.join(PAGE_ACTIONS)}, not {action!r} "
            "(the others are the dispatch desk's)"
        )
    seen_text = version.strip()
    seen = int(seen_text) if seen_text.isascii() and seen_text.isdigit() else None

    def act() -> None:
        with engine.begin() as conn:
            codes = load_report_codes(conn, report_id, lock=True)
            authorize(principal, transition_permission(action), codes)
            assert principal.name is not None  # only accounts are granted transitions
            transition_report(
                conn,
                report_id,
                action=action,
                actor=principal.name,
                note=note.strip() or None,
                expected_version=seen,
            )
            if photo is not None and photo.filename:
                name = photo.filename[:100]
                data = read_photo(photo.file, name=name)
                # The report is locked: its last event is the one just added.
                event_id, account_id = conn.execute(
                    text(
                        "SELECT (SELECT max(id) FROM report_events WHERE report_id = :id), "
                        "(SELECT id FROM users WHERE name = :name)"
                    ),
                    {"id": report_id, "name": principal.name},
                ).one()
                store_photos(
                    conn,
                    report_id,
                    [data],
                    source="worker",
                    account_id=account_id,
                    event_id=event_id,
                    settings=settings,
                    names=[name],
                )

    try:
        await run_in_threadpool(act)
    except InvalidTransition as exc:
        status_code, notice = (
            409,
            gettext(
                "Report %(id)s changed before your action reached it: it is now %(status)s. "
                "Nothing was done; the list below shows what is allowed now."
            )
            % {
                "id": report_id,
                "status": gettext(STATUS_NAMES.get(exc.current_status, exc.current_status)),
            },
        )
    except InvalidInput as exc:
        message = (
            gettext("Write what was done: resolving needs a note.")
            if exc.detail.startswith("note:")
            else exc.detail
        )
        status_code, notice = 422, gettext("Not done: %(problem)s") % {"problem": message}
    else:
        target = page_url(WORKER_PATH, lang=LANGUAGES[negotiate(request)], done=str(report_id))
        return RedirectResponse(f"{target}#report-{report_id}", status_code=303)
    return await _page(
        request,
        engine,
        settings,
        principal,
        status_code=status_code,
        notice=notice,
        notice_report=report_id,
    )


@router.post(
    VISIT_PATH,
    responses={
        303: {"description": "recorded: back to the worker's page"},
        409: {**_HTML, "description": "the household moved out: the page, saying so"},
        **error_responses(403, 404),
    },
)
async def visit_form(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    # The page's own gate (a dispatcher records visits through the API, not on this page),
    # then recording a visit's own permission on the household's grid.
    access: Annotated[Access, require(PAGE_PERMISSION, scope_of=household_scope)],
    household: Annotated[str, Path(max_length=100, description="the household's code")],
    outcome: Annotated[
        str,
        Form(
            max_length=20,
            description=", ".join(VISIT_OUTCOMES),
            json_schema_extra={"enum": list(VISIT_OUTCOMES)},
        ),
    ],
    csrf_token: Annotated[str, Form(description="the page's CSRF token")] = "",
    note: Annotated[str, Form(max_length=MAX_NOTE_CHARS * 2)] = "",
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Record a care visit made now to a household in scope (as ``POST
    /households/{household}/visits``); 403 without the CSRF token."""
    principal = access.principal
    await check_csrf(request)
    gettext = _gettext(request)
    now = datetime.now(UTC)

    def store() -> None:
        with engine.begin() as conn:
            authorize(principal, Permission.RECORD_VISIT, (household_grid(conn, household),))
            record_visit(
                conn,
                household,
                VisitInput(
                    visited_at=now,
                    outcome=outcome,
                    worker=principal.worker_code or principal.name,
                    note=note.strip() or None,
                ),
                recorded_by=principal.name,
                now=now,
            )

    try:
        await run_in_threadpool(store)
    except Conflict as exc:
        status_code, notice = 409, gettext("Not recorded: %(problem)s") % {"problem": exc.detail}
    except InvalidInput as exc:
        status_code, notice = 422, gettext("Not recorded: %(problem)s") % {"problem": exc.detail}
    else:
        target = page_url(WORKER_PATH, lang=LANGUAGES[negotiate(request)], visited=household)
        return RedirectResponse(f"{target}#visits", status_code=303)
    return await _page(
        request,
        engine,
        settings,
        principal,
        status_code=status_code,
        notice=notice,
        notice_household=household,
    )
