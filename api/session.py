"""A browser's sign-in: the session cookie and the CSRF token of its forms.

A browser cannot send a bearer header when it opens a page, so signing in (``/app/login``, or
``POST /auth/token`` from ``/docs``) also sets ``SESSION_COOKIE``: the same signed token,
HttpOnly, SameSite=Strict, Secure when the request came over HTTPS. ``api.auth`` reads it
when no bearer header is sent, so a page is governed by the same policy and scopes as the API.

A cookie is sent by the browser whoever made the page that posts, so a request it authorises
that changes something must also carry the CSRF token: the HMAC of a random nonce kept in
``CSRF_COOKIE`` (the signed double-submit pattern). Every form carries it in a hidden
``csrf_token`` field, a script in the ``X-CSRF-Token`` header; another site can read neither.
The sign-in form itself is checked the same way, so no other site can sign a browser in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

from gis.core.errors import Forbidden

LOGIN_PATH = "/app/login"
LOGOUT_PATH = "/app/logout"
SESSION_COOKIE = "gridpatrol_session"
CSRF_COOKIE = "gridpatrol_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class CsrfRefused(Forbidden):
    """A change authorised by the session cookie came without this browser's CSRF token."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _sign(request: Request, nonce: str) -> str:
    key: str = request.app.state.signing_key
    return hmac.new(key.encode(), f"csrf|{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> tuple[str, str | None]:
    """The CSRF token for the forms of the page being answered, and the new nonce to keep
    (``keep_csrf_nonce``) when the browser has none yet (else None)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    fresh = None if nonce else secrets.token_urlsafe(32)
    return _sign(request, nonce or fresh or ""), fresh


def keep_csrf_nonce(request: Request, response: Response, nonce: str) -> None:
    """Set the nonce cookie the page's CSRF token was signed from."""
    response.set_cookie(
        CSRF_COOKIE, nonce, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


async def submitted_csrf(request: Request) -> str:
    """The token the request carries: the header, else the form field ("" without one)."""
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(_FORMS):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request) -> None:
    """``CsrfRefused`` (403) unless the request carries the token of this browser's nonce."""
    nonce = request.cookies.get(CSRF_COOKIE)
    token = await submitted_csrf(request)
    if not nonce or not token or not hmac.compare_digest(token, _sign(request, nonce)):
        raise CsrfRefused(
            "csrf: this change came without the page's CSRF token (a form from another site, "
            "or a page older than the sign-in): reload the page and submit again, or send a "
            "bearer token"
        )


def set_session(request: Request, response: Response, token: str, *, max_age_s: int) -> None:
    """Keep ``token`` as this browser's session."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(max_age_s, 0),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_session(request: Request, response: Response) -> None:
    """Sign this browser out (its cookie is removed)."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def local_target(target: str | None, *, default: str) -> str:
    """``target`` when it is a path on this server (where to go back after signing in), else
    ``default``: never another site (an open redirect), nor a scheme-relative ``//host``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\r\n"):
        return default
    return target
