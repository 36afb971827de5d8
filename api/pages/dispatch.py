"""``/app/dispatch``: the dispatcher's desk.

The queue of the account's scope (``gis.reports.queue``: overdue first, then by the next
deadline, with the time left in ``GRIDPATROL_TIMEZONE``), filtered and paged, refreshed by htmx
polling its fragment; one report's details and event trail; and a form for exactly the actions
``gis.reports.actions`` allows now that the account's role may take (``gis.access.policy``),
carried out by ``gis.reports.lifecycle`` as ``POST /reports/{id}/transitions`` does. A report
another dispatcher moved first (409) shows the page again, saying what happened.

Open to the roles that may dispatch (dispatchers, admins); others get a 403 page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine, text

from api.auth import require
from api.deps import BIGINT_MAX, CategoriesDep, EngineDep, SettingsDep
from api.pages.i18n import LANGUAGES, negotiate, translations
from api.pages.names import ACTION_NAMES, EVENT_NAMES, PHOTO_SOURCE_NAMES, STATUS_NAMES
from api.pages.render import page_url, render_page
from api.pages.resident import MAP_ASSETS
from api.routes.photos import photo_url
from api.routes.reports import report_scope
from api.schemas.common import COMMON_ERRORS, error_responses
from api.session import check_csrf
from gis.access.policy import (
    Access,
    Permission,
    Principal,
    Role,
    allows,
    authorize,
    list_scopes,
    transition_permission,
)
from gis.access.scope import load_report_codes, report_codes
from gis.core.errors import InvalidInput, InvalidTransition
from gis.core.settings import Settings
from gis.core.vocabulary import OPEN_STATUSES, STATUSES, ReportStatus
from gis.reports.actions import ACTIONS
from gis.reports.categories import get_categories
from gis.reports.lifecycle import list_events, transition_report
from gis.reports.listing import get_report
from gis.reports.photos import list_photos
from gis.reports.queue import dispatch_queue
from gis.reports.workers import list_workers

DISPATCH_PATH = "/app/dispatch"
QUEUE_PATH = "/app/dispatch/queue"
ACTION_PATH = "/app/dispatch/reports/{report_id}"
# The page is for those who may dispatch; each action's own permission decides the rest.
DESK_PERMISSION = transition_permission("dispatch")
PAGE_SIZE = 20
# The queue fragment is polled this often (seconds).
REFRESH_S = 20


_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_PAGE: dict[int | str, Any] = {200: {**_HTML, "description": "the page"}}
_ACTION_ANSWERS: dict[int | str, Any] = {
    303: {"description": "done: back to the report on the desk"},
    409: {**_HTML, "description": "someone acted first: the desk again, saying what happened"},
    # A malformed form is the framework's JSON; an action the report refuses (a note missing,
    # an unknown worker) is the desk again, saying why, for the person who sent it.
    422: {
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}},
            **_HTML["content"],
        },
        "description": "a malformed form (JSON, `detail` names it), or an action the report "
        "refused (the desk again, saying why)",
    },
}
# An id typed in a form field: digits, blank for none (surrounding spaces are ignored).
_ID_TEXT = r"^\s*[0-9]{0,19}\s*$"
_LANG = "the page's language: zh-CN (default) or en; else the browser's Accept-Language"

router = APIRouter(
    tags=["pages"], default_response_class=HTMLResponse, responses=error_responses(*COMMON_ERRORS)
)


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(negotiate(request)).gettext


def time_left(due: datetime | None, now: datetime, gettext: Callable[[str], str]) -> str:
    """ "2 h 5 min left" or "overdue by 35 min" (rounded down to the minute)."""
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        span = gettext("%(d)d d %(h)d h") % {"d": days, "h": hours}
    elif hours:
        span = gettext("%(h)d h %(m)d min") % {"h": hours, "m": mins}
    else:
        span = gettext("%(m)d min") % {"m": mins}
    if seconds < 0:
        return gettext("overdue by %(span)s") % {"span": span}
    return gettext("%(span)s left") % {"span": span}


def _local(value: str | datetime | None, settings: Settings) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")


def _statuses(status: str | None) -> tuple[str, ...]:
    # The query's type (_Status) admits "open" or a status only: FastAPI refuses the rest.
    return OPEN_STATUSES if not status or status == "open" else (status,)


# "open" (every status still being worked on) or one status: the document lists them.
_Status = Annotated[
    Literal["open"] | ReportStatus | None, Query(description="open (default) or one status")
]
_Category = Annotated[str | None, Query(description="a category code")]
_Page = Annotated[int, Query(ge=1, le=100_000, description="the queue's page, from 1")]


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters and page (from the query string)."""

    status: str | None = None
    category: str | None = None
    page: int = 1


def _queue_query(status: _Status = None, category: _Category = None, page: _Page = 1) -> QueueQuery:
    return QueueQuery(status=status, category=category, page=page)


QueueDep = Annotated[QueueQuery, Depends(_queue_query)]


def scope_bounds(conn: Connection, scopes: list[str] | None) -> str:
    """The lon/lat box of the grids ``scopes`` reach ("minlon,minlat,maxlon,maxlat", the
    desk map's first view; empty when there are none)."""
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) "
            "AS e FROM grids WHERE CAST(:scopes AS text[]) IS NULL "
            "OR code ^@ ANY(CAST(:scopes AS text[]))) x"
        ),
        {"scopes": scopes},
    ).one()
    return "" if row[0] is None else ",".join(f"{float(v):.6f}" for v in row)


def category_names(settings: Settings, gettext: Callable[[str], str]) -> dict[str, str]:
    """Each category's name in the page's language (the bundled ones are in the catalogs)."""
    return {code: gettext(c.name) for code, c in get_categories(settings.categories_file).items()}


def _queue_context(
    request: Request, engine: Engine, settings: Settings, principal: Principal, query: QueueQuery
) -> dict[str, Any]:
    status, category, page = query.status, query.category, query.page
    gettext = _gettext(request)
    with engine.connect() as conn:
        queue = dispatch_queue(
            conn,
            scopes=list_scopes(principal, DESK_PERMISSION),
            statuses=_statuses(status),
            category=category or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    now = datetime.now(UTC)
    names = category_names(settings, gettext)
    for report in queue["reports"]:
        report["category_label"] = names.get(report["category"], report["category"])
        report["time_left"] = time_left(report["next_due_at"], now, gettext)
        report["next_due_local"] = _local(report["next_due_at"], settings)
        report["status_label"] = gettext(STATUS_NAMES.get(report["status"], report["status"]))
    pages = max(1, -(-queue["total"] // PAGE_SIZE))
    lang = LANGUAGES[negotiate(request)]
    filters = {"status": status or None, "category": category or None, "lang": lang}
    return {
        "queue": queue,
        "page": page,
        "pages": pages,
        "filters": filters,
        "queue_url": page_url(QUEUE_PATH, **filters, page=str(page)),
        "page_link": lambda n: page_url(DISPATCH_PATH, **filters, page=str(n)),
        "report_link": lambda rid: page_url(
            DISPATCH_PATH, **filters, page=str(page), report=str(rid)
        ),
        "refresh_s": REFRESH_S,
        "now_local": _local(now, settings),
        "timezone": settings.timezone,
    }


def _report_context(
    request: Request, engine: Engine, settings: Settings, principal: Principal, report_id: int
) -> dict[str, Any]:
    gettext = _gettext(request)
    with engine.connect() as conn:
        report = get_report(conn, report_id, include_contact=True)
        codes = report_codes(report)
        authorize(principal, Permission.READ_REPORT_CONTACT, codes)
        events = list_events(conn, report_id)
        photos = list_photos(conn, report_id)
        actions = [
            a
            for a in report["allowed_actions"]
            if allows(principal, transition_permission(a), codes)
        ]
        grid = report["location"]["grid_code"]
        workers = list_workers(conn, grid_code=grid) if "dispatch" in actions and grid else []
    for event in events:
        event["at_local"] = _local(event["at"], settings)
        event["action_label"] = gettext(EVENT_NAMES.get(event["action"], event["action"]))
        event["to_label"] = gettext(
            STATUS_NAMES.get(event["to_status"] or "", event["to_status"] or "")
        )
    for key in (
        "reported_at",
        "due_arrival_at",
        "due_resolution_at",
        "arrived_at",
        "resolved_at",
        "closed_at",
    ):
        report[f"{key}_local"] = _local(report[key], settings)
    report["status_label"] = gettext(STATUS_NAMES.get(report["status"], report["status"]))
    return {
        "report": report,
        "events": events,
        # Served by GET /reports/{id}/photos/{photo}: same origin, same scope rule.
        "photos": [
            {
                "url": photo_url(report_id, p.id),
                "width": p.width,
                "height": p.height,
                "source": gettext(PHOTO_SOURCE_NAMES.get(p.source, p.source)),
                "at_local": _local(p.created_at, settings),
            }
            for p in photos
        ],
        "actions": [
            {"name": a, "label": gettext(ACTION_NAMES[a]), "needs_note": ACTIONS[a].needs_note}
            for a in actions
        ],
        "workers": workers,
        "action_url": page_url(
            ACTION_PATH.format(report_id=report_id), lang=LANGUAGES[negotiate(request)]
        ),
    }


async def _desk(
    request: Request,
    engine: Engine,
    settings: Settings,
    principal: Principal,
    query: QueueQuery,
    *,
    report_id: int | None,
    categories: dict[str, Any],
    status_code: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    def build() -> dict[str, Any]:
        context = _queue_context(request, engine, settings, principal, query)
        with engine.connect() as conn:
            scopes = list_scopes(principal, DESK_PERMISSION)
            context["bounds"] = scope_bounds(conn, None if scopes is None else list(scopes))
        if report_id is not None:
            context |= _report_context(request, engine, settings, principal, report_id)
        return context

    context = await run_in_threadpool(build)
    gettext = _gettext(request)
    return render_page(
        request,
        "dispatch.html",
        principal=principal,
        assets=MAP_ASSETS,
        status_code=status_code,
        notice=notice,
        status_choices=[("open", gettext("open"))]
        + [(s, gettext(STATUS_NAMES[s])) for s in STATUSES],
        categories=sorted(categories),
        category_names=category_names(settings, gettext),
        **context,
    )


@router.get(DISPATCH_PATH, responses={**_PAGE, **error_responses(403, 404)})
async def dispatch_page(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    categories: CategoriesDep,
    access: Annotated[Access, require(DESK_PERMISSION)],
    query: QueueDep,
    report: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="the report to show")
    ] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """The dispatcher's desk: the queue of the account's scope, a report and its actions."""
    principal = access.principal
    return await _desk(
        request, engine, settings, principal, query, report_id=report, categories=categories
    )


@router.get(QUEUE_PATH, responses={**_PAGE, **error_responses(403)})
async def queue_fragment(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    access: Annotated[Access, require(DESK_PERMISSION, lists=True)],
    query: QueueDep,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """The queue alone (what the desk polls to refresh itself)."""
    principal = access.principal
    context = await run_in_threadpool(
        _queue_context,
        request,
        engine,
        settings,
        principal,
        query,
    )
    return render_page(request, "dispatch_queue.html", principal=principal, **context)


@router.post(
    ACTION_PATH,
    responses={**_ACTION_ANSWERS, **error_responses(403, 404)},
)
async def desk_action(
    request: Request,
    report_id: int,
    engine: EngineDep,
    settings: SettingsDep,
    categories: CategoriesDep,
    access: Annotated[Access, require(DESK_PERMISSION, scope_of=report_scope)],
    action: Annotated[
        str,
        Form(
            max_length=40,
            description=f"one of: {', '.join(ACTIONS)}",
            json_schema_extra={"enum": list(ACTIONS)},
        ),
    ],
    csrf_token: Annotated[str, Form(description="the page's CSRF token")] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    worker_id: Annotated[
        str, Form(pattern=_ID_TEXT, description="dispatch: the worker's id (blank: the grid's)")
    ] = "",
    duplicate_of: Annotated[
        str, Form(pattern=_ID_TEXT, description="confirm_duplicate: the original's id")
    ] = "",
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Take ``action`` on the report as the signed-in account; 403 without the CSRF token."""
    principal = access.principal
    await check_csrf(request)
    gettext = _gettext(request)

    def number(value: str, field: str) -> int | None:
        if not value.strip():
            return None
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"{field}: not a number: {value!r}") from None

    def act() -> None:
        permission = transition_permission(action)
        with engine.begin() as conn:
            codes = load_report_codes(conn, report_id, lock=True)
            authorize(principal, permission, codes)
            assert principal.name is not None  # only accounts are granted transitions
            transition_report(
                conn,
                report_id,
                action=action,
                actor=principal.name,
                note=note.strip() or None,
                worker_id=number(worker_id, "worker_id"),
                duplicate_of=number(duplicate_of, "duplicate_of"),
            )

    lang_tag = LANGUAGES[negotiate(request)]
    try:
        await run_in_threadpool(act)
    except InvalidTransition as exc:
        status_code, notice = (
            409,
            gettext(
                "Someone else acted on report %(id)s first: it is now %(status)s. "
                "The actions below are those allowed now."
            )
            % {
                "id": report_id,
                "status": gettext(STATUS_NAMES.get(exc.current_status, exc.current_status)),
            },
        )
    except InvalidInput as exc:
        status_code, notice = 422, gettext("Not done: %(problem)s") % {"problem": exc.detail}
    else:
        target = page_url(DISPATCH_PATH, report=str(report_id), lang=lang_tag)
        return RedirectResponse(f"{target}#report", status_code=303)
    # The desk again, the report open, saying what happened (not an error page).
    return await _desk(
        request,
        engine,
        settings,
        principal,
        QueueQuery(),
        report_id=report_id,
        categories=categories,
        status_code=status_code,
        notice=notice,
    )


def refused_page(request: Request, detail: str) -> HTMLResponse:
    """A 403 as a page (a person opened a page their role or scope does not reach)."""
    return render_page(
        request,
        "refused.html",
        principal=Principal(role=Role.ANONYMOUS),
        status_code=403,
        detail=detail,
    )
