"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), loading nothing from a CDN.

FastAPI's own pages load both from a CDN (and Google Fonts), so on an intranet they stay
blank. These serve the same pages with the scripts from the npm install (``maps/assets.py``:
``PAGE_ASSETS``) and a Content-Security-Policy allowing exactly their inline script. Swagger
UI's Authorize uses the password flow (``POST /auth/token``), which needs no OAuth2 redirect
page. Signing in there also signs the browser in for the pages (``api.session``).
"""

from __future__ import annotations

from functools import cache

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from maps.assets import PAGE_ASSETS, check_installed, inline_script_hashes, local_path

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
# ReDoc's bundle, served with the one URL it loads from the internet (the "API docs by
# Redocly" logo) replaced by an empty image: on an intranet that request fails loudly.
REDOC_JS_PATH = "/static/docs/redoc.standalone.js"
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@cache
def redoc_bundle() -> bytes:
    """ReDoc's standalone bundle without its CDN logo (fails if a new version moved it)."""
    check_installed()
    code = local_path(PAGE_ASSETS["redoc_js"]).read_text(encoding="utf-8")
    if _REDOC_LOGO not in code:
        raise RuntimeError(
            f"ReDoc's bundle no longer loads {_REDOC_LOGO}: check what it loads now "
            "(api/pages/docs.py)"
        )
    return code.replace(_REDOC_LOGO, _EMPTY_IMAGE).encode()


def _static(name: str) -> str:
    return f"/static/{PAGE_ASSETS[name]}"


def docs_policy(html: str) -> str:
    """The policy of a documentation page: own scripts plus its hashed inline ones; inline
    styles (both set style attributes, ReDoc writes style elements); ReDoc's search index is
    built in a worker made from a ``blob:`` URL."""
    return "; ".join(
        (
            "default-src 'none'",
            " ".join(("script-src 'self'", *inline_script_hashes(html))),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        )
    )


def _answer(page: HTMLResponse) -> HTMLResponse:
    # FastAPI writes a bare <html>; the documentation is in English (the OpenAPI texts).
    html = bytes(page.body).decode().replace("<html>", '<html lang="en">', 1)
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(html)})


def add_documentation(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` on ``app`` (created with ``docs_url=None``,
    ``redoc_url=None``) from the local assets."""
    title = app.title

    async def swagger_ui(request: Request) -> HTMLResponse:
        check_installed()
        root = request.scope.get("root_path", "").rstrip("/")
        return _answer(
            get_swagger_ui_html(
                openapi_url=root + str(app.openapi_url),
                title=f"{title} API — Swagger UI",
                swagger_js_url=root + _static("swagger_js"),
                swagger_css_url=root + _static("swagger_css"),
                swagger_favicon_url="data:,",
                swagger_ui_parameters={"persistAuthorization": False},
            )
        )

    async def redoc(request: Request) -> HTMLResponse:
        check_installed()
        root = request.scope.get("root_path", "").rstrip("/")
        return _answer(
            get_redoc_html(
                openapi_url=root + str(app.openapi_url),
                title=f"{title} API reference — ReDoc",
                redoc_js_url=root + REDOC_JS_PATH,
                redoc_favicon_url="data:,",
                with_google_fonts=False,
            )
        )

    async def redoc_js(request: Request) -> Response:
        return Response(
            redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    app.add_route(REDOC_PATH, redoc, include_in_schema=False)
    app.add_route(REDOC_JS_PATH, redoc_js, include_in_schema=False)
