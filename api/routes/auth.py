"""``POST /auth/token`` (OAuth2 password form) and ``GET /auth/me``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import TOKEN_URL, require
from api.deps import EngineDep, SettingsDep
from api.ratelimit import SignInLimit
from api.schemas.auth import Me, Token
from api.schemas.common import COMMON_ERRORS, error_responses
from api.session import set_session
from gis.access.accounts import authenticate
from gis.access.policy import POLICY, Access, Permission
from gis.access.tokens import issue_token

router = APIRouter(tags=["auth"], responses=error_responses(*COMMON_ERRORS))


@router.post(TOKEN_URL, responses=error_responses(429), dependencies=[require(Permission.SIGN_IN)])
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    _limit: SignInLimit,
) -> Token:
    """Exchange an account name and password (form fields) for a bearer token; a browser also
    keeps it as its session cookie, which opens the pages the account may see (changes made
    with the cookie need the page's CSRF token)."""
    with engine.begin() as conn:
        account = authenticate(conn, name=form.username, password=form.password)
    issued = issue_token(
        account,
        key=request.app.state.signing_key,
        lifetime=timedelta(minutes=settings.token_minutes),
    )
    expires_in = int((issued.expires_at - datetime.now(UTC)).total_seconds())
    # A browser (``/docs`` → Authorize) is then signed in for the pages too (api.session);
    # not from another site's form, which would sign the browser in as someone else.
    if request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none"):
        set_session(request, response, issued.token, max_age_s=expires_in)
    return Token(
        access_token=issued.token,
        expires_at=issued.expires_at.astimezone(settings.zone),
        expires_in=expires_in,
    )


@router.get("/auth/me")
def me(access: Annotated[Access, require(Permission.READ_OWN_ACCOUNT)]) -> Me:
    """Who the bearer token signs in, the units it reaches and what its role may do."""
    principal = access.principal
    assert principal.name is not None  # read_own_account is granted to accounts only
    return Me(
        name=principal.name,
        role=principal.role,
        scope_code=principal.scope_code,
        worker_code=principal.worker_code,
        scopes=list(principal.scopes),
        permissions={
            name: str(permission.grants[principal.role])
            for name, permission in POLICY.items()
            if principal.role in permission.grants
        },
    )
