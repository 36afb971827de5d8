"""Server-rendered pages for people in a browser: Jinja2 templates, strings in gettext
catalogs (zh-CN by default, English on request), htmx and every other asset served by
gridpatrol itself, a strict Content-Security-Policy, sign-in by session cookie.

- ``i18n``: which language a request gets, and the catalogs;
- ``render``: the templates, the page policy and ``render_page``;
- ``routes``: ``/app/login`` and ``/app/logout``;
- ``docs``: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) without a CDN.
"""
