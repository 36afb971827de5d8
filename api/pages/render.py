"""Rendering a page: its template in the request's language, its CSRF token, its policy.

Pages load nothing but gridpatrol's own files: no inline script (the policy has no hash to
allow one), no inline style, no frame, forms posting only here. htmx comes from the npm
install (``maps/assets.py``: ``PAGE_ASSETS``) with evaluation turned off, and sends the
page's CSRF token with every request it makes (``hx-headers`` on ``<body>``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.pages.i18n import LANGUAGES, negotiate, translations
from api.session import CSRF_FIELD, CSRF_HEADER, csrf_token, keep_csrf_nonce
from gis.access.policy import Principal
from maps.assets import PAGE_ASSETS

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
STATIC_URL = "/static/pages"
# Each language named in itself, for the switcher (not translated).
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}

# A page's 422: the page naming the field, or JSON when the framework refuses the request
# before the page (a malformed form, a parameter given twice, a NUL character).
REFUSED_CONTENT: dict[str, Any] = {
    "text/html": {"schema": {"type": "string"}},
    "application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}},
}

PAGE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)
# Pages carry a CSRF token and may show personal data: never cached, never framed.
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Vary": "Accept-Language, Cookie",
}
# htmx without eval or script tags in answers; no style element of its own (the policy).
HTMX_CONFIG = json.dumps(
    {
        "allowEval": False,
        "allowScriptTags": False,
        "includeIndicatorStyles": False,
        "selfRequestsOnly": True,
    }
)


@cache
def environment(locale: str) -> Environment:
    """The templates with ``locale``'s catalog installed (one environment per language)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def page_url(path: str, **params: str | None) -> str:
    """``path`` with the given query parameters (None ones left out)."""
    kept = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(kept)}" if kept else path


def render_page(
    request: Request,
    template: str,
    *,
    principal: Principal,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` in the request's language, with its CSRF token and headers."""
    locale = negotiate(request)
    token, new_nonce = csrf_token(request)
    html = (
        environment(locale)
        .get_template(template)
        .render(
            locale=locale,
            lang_tag=LANGUAGES[locale],
            languages=LANGUAGES,
            language_names=LANGUAGE_NAMES,
            lang_urls={
                code: page_url(request.url.path, **(dict(request.query_params) | {"lang": tag}))
                for code, tag in LANGUAGES.items()
            },
            principal=principal,
            csrf_field=CSRF_FIELD,
            csrf_token=token,
            hx_headers=json.dumps({CSRF_HEADER: token}),
            htmx_config=HTMX_CONFIG,
            static_url=STATIC_URL,
            htmx_url=f"/static/{PAGE_ASSETS['htmx_js']}",
            page_url=page_url,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    if new_nonce:
        keep_csrf_nonce(request, response, new_nonce)
    return response
