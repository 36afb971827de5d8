"""``/app/login`` and ``/app/logout``: signing a browser in and out.

Signing in sets the session cookie (``api.session``) holding the same token ``POST
/auth/token`` gives, so a page answers to the same policy and scopes as the API. A browser
sent here from a page it could not open (``api.errors``: a page asked for without a session)
comes back to it after signing in.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import require
from api.deps import EngineDep, SettingsDep
from api.pages.i18n import LANGUAGES, negotiate, translations
from api.pages.render import page_url, render_page
from api.ratelimit import SignInLimit
from api.schemas.common import COMMON_ERRORS, error_responses
from api.session import (
    LOGIN_PATH,
    LOGOUT_PATH,
    SESSION_COOKIE,
    CsrfRefused,
    check_csrf,
    clear_session,
    keep_csrf_nonce,
    local_target,
    set_session,
)
from gis.access.accounts import authenticate
from gis.access.policy import Access, Permission, Principal, Role
from gis.access.tokens import issue_token
from gis.core.errors import Unauthorized


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark for extraction")
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


ROLE_NAMES: dict[str, str] = {
    Role.WORKER: N_("grid worker"),
    Role.DISPATCHER: N_("dispatcher"),
    Role.ANALYST: N_("analyst"),
    Role.ADMIN: N_("administrator"),
}

_PAGE: dict[int | str, Any] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "the page"},
}
_FORM_ANSWERS: dict[int | str, Any] = {
    **_PAGE,
    303: {"description": "done: on to the page asked for (``next``) or the sign-in page"},
    401: {
        "content": {"text/html": {"schema": {"type": "string"}}},
        "description": "wrong account name or password: the form again, saying so",
    },
    403: {
        "content": {"text/html": {"schema": {"type": "string"}}},
        "description": "the form's CSRF token is missing or stale: the form again, saying so",
    },
}
_NEXT = "the page to return to after signing in: a path on this server (others are ignored)"
_LANG = "the page's language: zh-CN (default) or en; else the browser's Accept-Language"

router = APIRouter(
    tags=["pages"], default_response_class=HTMLResponse, responses=error_responses(*COMMON_ERRORS)
)


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(negotiate(request)).gettext


def _login(request: Request, lang_tag: str | None = None) -> str:
    return page_url(LOGIN_PATH, lang=lang_tag or LANGUAGES[negotiate(request)])


def _form(
    request: Request, *, status_code: int, error: str, username: str, next_path: str
) -> HTMLResponse:
    return render_page(
        request,
        "login.html",
        principal=Principal(role=Role.ANONYMOUS),
        status_code=status_code,
        error=error,
        username=username,
        next_path=local_target(next_path, default="") or None,
    )


@router.get(LOGIN_PATH, responses=_PAGE)
async def login_page(
    request: Request,
    access: Annotated[Access, require(Permission.READ_PUBLIC)],
    next_path: Annotated[str | None, Query(alias="next", description=_NEXT)] = None,
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> HTMLResponse:
    """The sign-in form (or, signed in, who you are, the pages and signing out)."""
    principal = access.principal
    response = render_page(
        request,
        "login.html",
        principal=principal,
        next_path=local_target(next_path, default="") or None,
        role_label=_gettext(request)(ROLE_NAMES.get(principal.role, principal.role)),
    )
    if principal.is_anonymous and SESSION_COOKIE in request.cookies:
        clear_session(request, response)  # expired, or its account disabled
    return response


@router.post(
    LOGIN_PATH,
    responses={**_FORM_ANSWERS, **error_responses(429)},
    dependencies=[require(Permission.SIGN_IN)],
)
async def login(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    _limit: SignInLimit,
    # An empty field is a missing one (422), as the minimum length says.
    username: Annotated[str, Form(min_length=1, max_length=200)],
    password: Annotated[str, Form(min_length=1, max_length=1000)],
    csrf_token: Annotated[str, Form(description="the form's CSRF token")] = "",
    next_path: Annotated[str, Form(alias="next", description=_NEXT)] = "",
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Sign this browser in with an account name and password, then go back to ``next``."""
    try:
        await check_csrf(request)
    except CsrfRefused:
        gettext = _gettext(request)
        message = gettext("This form has expired. Please sign in again.")
        return _form(
            request, status_code=403, error=message, username=username, next_path=next_path
        )

    def check() -> Any:
        with engine.begin() as conn:
            return authenticate(conn, name=username, password=password)

    try:
        account = await run_in_threadpool(check)
    except Unauthorized:
        gettext = _gettext(request)
        message = gettext("Wrong account name or password, or the account is disabled.")
        return _form(
            request, status_code=401, error=message, username=username, next_path=next_path
        )
    issued = issue_token(
        account,
        key=request.app.state.signing_key,
        lifetime=timedelta(minutes=settings.token_minutes),
    )
    target = local_target(next_path, default=_login(request))
    response = RedirectResponse(target, status_code=303)
    set_session(
        request,
        response,
        issued.token,
        max_age_s=int((issued.expires_at - datetime.now(UTC)).total_seconds()),
    )
    # A new nonce for the new session: a token from before signing in no longer counts.
    keep_csrf_nonce(request, response, secrets.token_urlsafe(32))
    return response


@router.post(
    LOGOUT_PATH,
    responses={303: {"description": "signed out: on to the sign-in page"}, **error_responses(403)},
    dependencies=[require(Permission.SIGN_IN)],
)
async def logout(
    request: Request,
    csrf_token: Annotated[str, Form(description="the page's CSRF token")] = "",
    lang: Annotated[str | None, Query(description=_LANG)] = None,
) -> Response:
    """Sign this browser out (its session cookie is removed); 403 without the CSRF token."""
    await check_csrf(request)
    response = RedirectResponse(_login(request), status_code=303)
    clear_session(request, response)
    keep_csrf_nonce(request, response, secrets.token_urlsafe(32))
    return response
