"""The resident's pages: ``/app/report`` (no account, phone first) and ``/app/follow/{token}``.

A resident locates the problem by the phone's position or a tap on the map of the grids
(Leaflet and VectorGrid from gridpatrol's own assets, ``static/report.js``), or types the
coordinates, picks a category (its promised deadlines shown), describes it and optionally
leaves a name and phone. The form goes through the same intake as ``POST /reports``
(validation, Idempotency-Key, the anonymous rate limit) and, first, refuses a point outside
every district, which intake would store unlocated. The answer is a redirect to the report's
private follow-up link (``gis.reports.followup``: only the token's hash is stored), where the
resident sees the status and the events' public view, adds photos while the report is open
and, once it is closed, rates the outcome once. Every form carries the page's CSRF token.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from babel.dates import format_datetime, format_timedelta
from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import text
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import require
from api.deps import CategoriesDep, EngineDep, SettingsDep
from api.pages.i18n import LANGUAGES, negotiate, translations
from api.pages.names import EVENT_NAMES, RESIDENT_STATUS_NAMES
from api.pages.render import page_url, render_page
from api.ratelimit import IntakeLimit
from api.routes.photos import read_uploads
from api.schemas.common import COMMON_ERRORS, error_responses
from api.session import CsrfRefused, check_csrf
from gis.access.policy import Access, Permission, Principal, Role
from gis.core.errors import Conflict, InvalidInput, NotFound
from gis.core.vocabulary import OPEN_STATUSES, PhotoSource
from gis.reports.categories import Category
from gis.reports.followup import (
    MAX_RATING_NOTE_CHARS,
    MAX_TOKEN_CHARS,
    AlreadyRated,
    NoLongerOpen,
    add_followup_photos,
    issue_followup,
    rate_outcome,
    read_followup,
)
from gis.reports.intake import (
    MAX_DESCRIPTION_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    ReportInput,
    locate_point,
    submit_report,
)
from gis.reports.photos import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS_PER_REPORT,
    MAX_PHOTOS_PER_REQUEST,
    PhotoRefused,
    count_photos,
    store_photos,
)
from maps.assets import ASSET_FILES

REPORT_PATH = "/app/report"
# Its form carries photos: the request guard allows this path a body as large as theirs.
REPORT_PATH_PATTERN = re.compile(re.escape(REPORT_PATH))
FOLLOW_PATH = "/app/follow"
# The follow-up link's photo form: as large a body as the report form's.
FOLLOW_PHOTOS_PATTERN = re.compile(re.escape(FOLLOW_PATH) + r"/[^/]+/photos")
# The form's Idempotency-Key is namespaced: a page's retry can only replay a page's report.
KEY_PREFIX = "app-report:"


_VECTORGRID = next(
    local for url, local in ASSET_FILES.items() if local and "Leaflet.VectorGrid" in url
)
MAP_ASSETS = {
    "leaflet_css": "/static/vendor/leaflet/dist/leaflet.css",
    "leaflet_js": "/static/vendor/leaflet/dist/leaflet.js",
    "vectorgrid_js": f"/static/{_VECTORGRID}",
}

_HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}
_PAGE: dict[int | str, Any] = {200: {**_HTML, "description": "the page"}}
_LANG = "the page's language: zh-CN (default) or en; else the browser's Accept-Language"
_TOKEN = "the private token of the follow-up link (given once, after sending the report)"

router = APIRouter(
    tags=["pages"], default_response_class=HTMLResponse, responses=error_responses(*COMMON_ERRORS)
)


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(negotiate(request)).gettext


def _minutes(request: Request, minutes: int) -> str:
    locale = negotiate(request)
    return format_timedelta(timedelta(minutes=minutes), threshold=1, locale=locale)


def _category_choices(request: Request, cats: dict[str, Category]) -> list[dict[str, str]]:
    gettext = _gettext(request)
    return [
        {
            "code": code,
            "name": gettext(cat.name),
            "deadline": gettext("on site within %(arrival)s, solved within %(resolution)s")
            % {
                "arrival": _minutes(request, cat.arrival_minutes),
                "resolution": _minutes(request, cat.resolution_minutes),
            },
        }
        for code, cat in cats.items()
    ]


def _city_bounds(engine: Any) -> list[float] | None:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM districts) x"
            )
        ).one()
    return None if row[0] is None else [round(float(v), 6) for v in row]


async def _report_form(
    request: Request,
    engine: Any,
    cats: dict[str, Category],
    *,
    status_code: int = 200,
    error: str | None = None,
    error_field: str | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    bounds = await run_in_threadpool(_city_bounds, engine)
    return render_page(
        request,
        "report.html",
        principal=Principal(role=Role.ANONYMOUS),
        status_code=status_code,
        categories=_category_choices(request, cats),
        bounds=",".join(str(v) for v in bounds) if bounds else "",
        assets=MAP_ASSETS,
        error=error,
        error_field=error_field,
        values=values or {},
        idempotency_key=(values or {}).get("idempotency_key") or secrets.token_urlsafe(16),
        limits={
            "description": MAX_DESCRIPTION_CHARS,
            "name": MAX_NAME_CHARS,
            "phone": MAX_PHONE_CHARS,
            "key": MAX_IDEMPOTENCY_KEY_CHARS - len(KEY_PREFIX),
            "photo_bytes": MAX_PHOTO_BYTES,
            "photo_megabytes": MAX_PHOTO_BYTES // (1024 * 1024),
            "photos": MAX_PHOTOS_PER_REQUEST,
        },
    )


@router.get(REPORT_PATH, responses=_PAGE)
async def report_page(
    request: Request,
    engine: EngineDep,
    cats: CategoriesDep,
    _access: Annotated[Access, require(Permission.READ_PUBLIC)],
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """The resident's report form: where (phone position, map or coordinates), what, who."""
    return await _report_form(request, engine, cats)


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


@router.post(
    REPORT_PATH,
    responses={
        303: {"description": "sent: on to the report's private follow-up link"},
        403: {**_HTML, "description": "the form's CSRF token is missing or stale: the form again"},
        400: {**_HTML, "description": "the form again, naming what to correct; nothing stored"},
        409: {**_HTML, "description": "the form's key was used for another report"},
        **error_responses(429),
    },
)
async def send_report(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    cats: CategoriesDep,
    access: Annotated[Access, require(Permission.SUBMIT_REPORT)],
    _limit: IntakeLimit,
    category: Annotated[str, Form(max_length=100)] = "",
    description: Annotated[str, Form(max_length=MAX_DESCRIPTION_CHARS * 2)] = "",
    lat: Annotated[str, Form(max_length=40)] = "",
    lon: Annotated[str, Form(max_length=40)] = "",
    reporter_name: Annotated[str, Form(max_length=MAX_NAME_CHARS * 2)] = "",
    reporter_phone: Annotated[str, Form(max_length=MAX_PHONE_CHARS * 2)] = "",
    idempotency_key: Annotated[
        str, Form(max_length=MAX_IDEMPOTENCY_KEY_CHARS - len(KEY_PREFIX))
    ] = "",
    csrf_token: Annotated[str, Form(description="the form's CSRF token")] = "",
    photo: Annotated[
        # A browser sends an empty part, read as text, when no file was chosen.
        list[UploadFile | str] | None,
        File(
            description=f"optional photos (multipart): JPEG or PNG, at most {MAX_PHOTO_BYTES} "
            f"bytes each, at most {MAX_PHOTOS_PER_REQUEST}; stored without metadata"
        ),
    ] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Send a report from the form: the intake of ``POST /reports`` with its photos (all
    stored with it, or nothing), then the follow-up link."""
    gettext = _gettext(request)
    values = {
        "category": category,
        "description": description,
        "lat": lat,
        "lon": lon,
        "reporter_name": reporter_name,
        "reporter_phone": reporter_phone,
        "idempotency_key": idempotency_key,
    }

    async def again(status_code: int, error: str, field: str | None = None) -> HTMLResponse:
        return await _report_form(
            request,
            engine,
            cats,
            status_code=status_code,
            error=error,
            error_field=field,
            values=values,
        )

    try:
        await check_csrf(request)
    except CsrfRefused:
        return await again(403, gettext("This form has expired. Please send it again."))
    if any("\x00" in value for value in values.values()):
        # A multipart form's text is not checked by the request guard, as a urlencoded one is.
        return await again(400, gettext("The form holds a character that cannot be stored."))
    if category not in cats:
        return await again(400, gettext("Choose a category from the list."), "category")
    if not description.strip():
        return await again(400, gettext("Describe the problem."), "description")
    point = (_number(lat), _number(lon))
    if point[0] is None or point[1] is None or not -90 <= point[0] <= 90:
        return await again(
            400,
            gettext("Give the place: use your position, tap the map or type its coordinates."),
            "lat",
        )
    if not -180 <= point[1] <= 180:
        return await again(400, gettext("The longitude must be between -180 and 180."), "lon")
    report = ReportInput(
        lat=point[0],
        lon=point[1],
        category=category,
        description=description.strip(),
        reporter_name=reporter_name.strip() or None,
        reporter_phone=reporter_phone.strip() or None,
    )

    # Starlette's class: FastAPI's UploadFile is only its annotation.
    uploads = [u for u in photo or [] if isinstance(u, StarletteUpload) and (u.filename or u.size)]

    def store() -> tuple[int, str] | None:
        data, names = read_uploads(uploads)
        with engine.begin() as conn:
            where = locate_point(conn, lat=report.lat, lon=report.lon)
            if where["district_code"] is None:
                return None
            submission = submit_report(
                conn,
                report,
                categories=cats,
                idempotency_key=f"{KEY_PREFIX}{idempotency_key}" if idempotency_key else None,
                actor=access.principal.name or "resident",
            )
            report_id = int(submission.report["id"])
            if not submission.replayed:  # a retried form's photos are stored already
                store_photos(
                    conn,
                    report_id,
                    data,
                    source=PhotoSource.RESIDENT,
                    settings=settings,
                    names=names,
                )
            return report_id, issue_followup(conn, report_id)

    try:
        stored = await run_in_threadpool(store)
    except PhotoRefused as exc:
        return await again(
            400,
            gettext(
                "A photo was refused, nothing was sent: %(why)s. Attach JPEG or PNG photos "
                "of at most %(mb)d MB, at most %(n)d."
            )
            % {
                "why": exc.detail,
                "mb": MAX_PHOTO_BYTES // (1024 * 1024),
                "n": MAX_PHOTOS_PER_REQUEST,
            },
            "photo",
        )
    except InvalidInput as exc:
        return await again(400, str(exc.detail))
    except Conflict:
        values["idempotency_key"] = ""
        return await again(
            409, gettext("This form was sent already for another report. Please send it again.")
        )
    if stored is None:
        return await again(
            400,
            gettext("This place is outside every district of the city. Choose a place inside."),
            "lat",
        )
    _report_id, token = stored
    target = page_url(f"{FOLLOW_PATH}/{token}", sent="1", lang=LANGUAGES[negotiate(request)])
    return RedirectResponse(target, status_code=303)


def _when(request: Request, iso: str | None, zone: Any) -> str | None:
    if not iso:
        return None
    at = datetime.fromisoformat(iso).astimezone(zone)
    return format_datetime(at, "medium", locale=negotiate(request))


async def _follow_page(
    request: Request,
    engine: Any,
    settings: Any,
    cats: dict[str, Category],
    token: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    note: str = "",
) -> HTMLResponse:
    gettext = _gettext(request)

    def read() -> tuple[Any, int]:
        with engine.connect() as conn:
            follow = read_followup(conn, token)
            # Only how many: the pictures themselves are for the staff in charge.
            return follow, count_photos(conn, int(follow.report["id"]), source=PhotoSource.RESIDENT)

    try:
        follow, photo_count = await run_in_threadpool(read)
    except NotFound:
        return render_page(
            request,
            "follow.html",
            principal=Principal(role=Role.ANONYMOUS),
            status_code=404,
            follow=None,
            error=gettext(
                "No report has this follow-up link. Check that the whole link was copied."
            ),
        )
    report = follow.report
    zone = settings.zone
    category = cats.get(report["category"])
    return render_page(
        request,
        "follow.html",
        principal=Principal(role=Role.ANONYMOUS),
        status_code=status_code,
        follow=follow,
        report=report,
        category_name=gettext(category.name) if category else report["category"],
        status_name=gettext(RESIDENT_STATUS_NAMES.get(report["status"], report["status"])),
        reported_at=_when(request, report["reported_at"], zone),
        due_resolution_at=_when(request, report["due_resolution_at"], zone),
        events=[
            {
                "what": gettext(EVENT_NAMES.get(e["action"], e["action"])),
                "at": _when(request, e["at"], zone),
                "iso": e["at"],
            }
            for e in follow.events
        ],
        rated_at=_when(request, follow.rated_at.isoformat(), zone) if follow.rated_at else None,
        sent=request.query_params.get("sent") == "1",
        rated=request.query_params.get("rated") == "1",
        follow_url=str(request.url.replace(query="")),
        action_url=page_url(f"{FOLLOW_PATH}/{token}", lang=LANGUAGES[negotiate(request)]),
        error=error,
        note=note,
        note_limit=MAX_RATING_NOTE_CHARS,
        photo_count=photo_count,
        photos_added=_count_param(request.query_params.get("photos")),
        can_add_photos=report["status"] in OPEN_STATUSES,
        photos_url=page_url(f"{FOLLOW_PATH}/{token}/photos", lang=LANGUAGES[negotiate(request)]),
        photo_limits={"mb": MAX_PHOTO_BYTES // (1024 * 1024), "n": MAX_PHOTOS_PER_REQUEST},
    )


def _count_param(raw: str | None) -> int:
    """A small count from the query string (the redirect's ``photos=N``), 0 if it is not one."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) <= 2 else 0


TokenPath = Annotated[str, Path(max_length=MAX_TOKEN_CHARS, description=_TOKEN)]


@router.get(
    FOLLOW_PATH + "/{token}",
    responses={**_PAGE, 404: {**_HTML, "description": "no report has this link"}},
)
async def follow_page(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    cats: CategoriesDep,
    token: TokenPath,
    _access: Annotated[Access, require(Permission.READ_PUBLIC)],
    sent: Annotated[str | None, Query(description="1: the report was just sent")] = None,
    rated: Annotated[str | None, Query(description="1: the rating was just stored")] = None,
    photos: Annotated[
        str | None, Query(max_length=10, description="how many photos were just added")
    ] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """A report's private follow-up page: status, events' public view, the rating form."""
    return await _follow_page(request, engine, settings, cats, token)


@router.post(
    FOLLOW_PATH + "/{token}",
    responses={
        303: {"description": "stored: back to the follow-up page"},
        403: {**_HTML, "description": "the form's CSRF token is missing or stale"},
        404: {**_HTML, "description": "no report has this link"},
        409: {**_HTML, "description": "rated already, or not closed yet; nothing stored"},
        400: {**_HTML, "description": "no choice made or the note too long; nothing stored"},
    },
)
async def rate_report(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    cats: CategoriesDep,
    token: TokenPath,
    _access: Annotated[Access, require(Permission.SUBMIT_REPORT)],
    satisfied: Annotated[str, Form(description="yes or no", max_length=10)] = "",
    note: Annotated[str, Form(max_length=MAX_RATING_NOTE_CHARS * 2)] = "",
    csrf_token: Annotated[str, Form(description="the form's CSRF token")] = "",
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Rate the outcome of a closed report once: satisfied or not, with a note."""
    gettext = _gettext(request)

    async def again(status_code: int, error: str) -> HTMLResponse:
        return await _follow_page(
            request, engine, settings, cats, token, status_code=status_code, error=error, note=note
        )

    try:
        await check_csrf(request)
    except CsrfRefused:
        return await again(403, gettext("This form has expired. Please send it again."))
    if satisfied not in ("yes", "no"):
        return await again(400, gettext("Choose satisfied or not satisfied."))

    def store() -> int:
        with engine.begin() as conn:
            return rate_outcome(conn, token, satisfied=satisfied == "yes", note=note)

    try:
        await run_in_threadpool(store)
    except NotFound:
        return await again(404, "")
    except InvalidInput:
        return await again(
            400,
            gettext("The note is too long: at most %(n)d characters.")
            % {"n": MAX_RATING_NOTE_CHARS},
        )
    except Conflict as exc:
        message = (
            gettext("This report was rated already: a rating is given once.")
            if isinstance(exc, AlreadyRated)
            else gettext("The report is not closed yet: rate it once it is closed.")
        )
        return await again(409, message)
    target = page_url(f"{FOLLOW_PATH}/{token}", rated="1", lang=LANGUAGES[negotiate(request)])
    return RedirectResponse(target, status_code=303)


@router.post(
    FOLLOW_PATH + "/{token}/photos",
    responses={
        303: {"description": "added: back to the follow-up page, saying how many"},
        403: {**_HTML, "description": "the form's CSRF token is missing or stale"},
        404: {**_HTML, "description": "no report has this link"},
        409: {**_HTML, "description": "the report is solved or closed; nothing stored"},
        400: {**_HTML, "description": "no photo chosen, or one refused; nothing stored"},
        **error_responses(429),
    },
)
async def add_photos_from_the_link(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    cats: CategoriesDep,
    token: TokenPath,
    _access: Annotated[Access, require(Permission.SUBMIT_REPORT)],
    _limit: IntakeLimit,
    csrf_token: Annotated[str, Form(description="the form's CSRF token")] = "",
    photo: Annotated[
        # A browser sends an empty part, read as text, when no file was chosen.
        list[UploadFile | str] | None,
        File(
            description=f"photos (multipart): JPEG or PNG, at most {MAX_PHOTO_BYTES} bytes "
            f"each, at most {MAX_PHOTOS_PER_REQUEST} at once and {MAX_PHOTOS_PER_REPORT} a "
            "report; stored without metadata"
        ),
    ] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Add photos to an open report from its follow-up link (the same checks as the report
    form's); the page again saying why when they are refused."""
    gettext = _gettext(request)

    async def again(status_code: int, error: str) -> HTMLResponse:
        return await _follow_page(
            request, engine, settings, cats, token, status_code=status_code, error=error
        )

    try:
        await check_csrf(request)
    except CsrfRefused:
        return await again(403, gettext("This form has expired. Please send it again."))
    uploads = [u for u in photo or [] if isinstance(u, StarletteUpload) and (u.filename or u.size)]
    if not uploads:
        return await again(400, gettext("Choose one or more photos to add."))

    def store() -> int:
        data, names = read_uploads(uploads)
        with engine.begin() as conn:
            add_followup_photos(conn, token, data, settings=settings, names=names)
        return len(data)

    try:
        added = await run_in_threadpool(store)
    except NotFound:
        return await again(404, "")
    except NoLongerOpen:
        return await again(
            409,
            gettext("This report is solved or closed: photos can be added while it is open."),
        )
    except PhotoRefused as exc:
        return await again(
            400,
            gettext(
                "A photo was refused, nothing was added: %(why)s. Attach JPEG or PNG photos "
                "of at most %(mb)d MB, at most %(n)d at once."
            )
            % {
                "why": exc.detail,
                "mb": MAX_PHOTO_BYTES // (1024 * 1024),
                "n": MAX_PHOTOS_PER_REQUEST,
            },
        )
    target = page_url(
        f"{FOLLOW_PATH}/{token}", photos=str(added), lang=LANGUAGES[negotiate(request)]
    )
    return RedirectResponse(f"{target}#photo-count", status_code=303)
