"""The sign-in page: languages from the catalogs, a strict policy, sign-in and sign-out with
the session cookie and CSRF token, coming back to the page asked for, and bad input refused
without signing anyone in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from api.main import create_app
from api.pages.i18n import LOCALES_DIR
from api.pages.render import PAGE_POLICY
from api.session import CSRF_COOKIE, SESSION_COOKIE, local_target
from tests.accounts import PASSWORD, account_headers, page_csrf_token
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[2]
HTML = {"Accept": "text/html,application/xhtml+xml"}
TITLE = re.compile(r"<title>([^<]+)</title>")


@pytest.fixture(scope="module")
def client(pg_server: object, templates: dict[str, str]) -> Iterator[TestClient]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["city"]):  # type: ignore[arg-type]
        account_headers(engine, "page-dispatcher", "dispatcher", scope="990101")
        app = create_app(settings_for(engine), engine=engine)
        with TestClient(app, follow_redirects=False) as test_client:
            yield test_client


@pytest.fixture
def browser(client: TestClient) -> Iterator[TestClient]:
    """The module's client as a fresh browser: no cookie from another test."""
    client.cookies.clear()
    yield client
    client.cookies.clear()


def _sign_in(client: TestClient, *, next_path: str = "", password: str = PASSWORD) -> object:
    token = page_csrf_token(client)
    return client.post(
        "/app/login",
        data={
            "username": "page-dispatcher",
            "password": password,
            "csrf_token": token,
            "next": next_path,
        },
    )


@pytest.mark.parametrize(
    ("query", "accept_language", "lang", "title"),
    [
        ("", None, "zh-CN", "登录 · 网格巡查"),
        ("", "en-GB,en;q=0.9", "en", "Sign in · gridpatrol"),
        ("", "fr-FR, en;q=0.5, zh-CN;q=0.4", "en", "Sign in · gridpatrol"),
        ("", "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "登录 · 网格巡查"),
        ("", "de-DE", "zh-CN", "登录 · 网格巡查"),
        ("?lang=en", "zh-CN", "en", "Sign in · gridpatrol"),
        ("?lang=zh-CN", "en", "zh-CN", "登录 · 网格巡查"),
        ("?lang=xx", "en", "en", "Sign in · gridpatrol"),
    ],
)
def test_the_page_speaks_chinese_unless_asked_for_english(
    browser: TestClient, query: str, accept_language: str | None, lang: str, title: str
) -> None:
    headers = HTML | ({"Accept-Language": accept_language} if accept_language else {})
    page = browser.get(f"/app/login{query}", headers=headers)
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    assert TITLE.findall(page.text) == [title]


def test_the_page_has_a_strict_policy_and_labelled_controls(browser: TestClient) -> None:
    page = browser.get("/app/login", headers=HTML)
    assert page.headers["content-security-policy"] == PAGE_POLICY
    policy = dict(d.strip().split(" ", 1) for d in PAGE_POLICY.split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["form-action"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert page.headers["cache-control"] == "no-store"
    # No inline script or style for the policy to refuse; scripts only from this server.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert "<style" not in page.text and " style=" not in page.text
    assert all(src.startswith("/static/") for src in re.findall(r'src="([^"]+)"', page.text))
    # Every visible control has a label naming it.
    ids = re.findall(r'<input id="([^"]+)"', page.text)
    assert set(ids) == {"username", "password"}
    for control in ids:
        assert f'<label for="{control}">' in page.text
    assert re.search(r'<button type="submit">登录</button>', page.text)
    # The CSRF nonce cookie: not readable by scripts, never sent by another site.
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(CSRF_COOKIE) and "httponly" in cookie and "samesite=strict" in cookie


def test_sign_in_comes_back_to_the_page_and_sign_out_ends_the_session(
    browser: TestClient,
) -> None:
    # A browser opening a page it may not see anonymously is sent to sign in...
    page = "/maps/grids?patrol_coverage=true&problems=false"
    sent = browser.get(page, headers=HTML)
    assert sent.status_code == 303
    login = urlsplit(sent.headers["location"])
    assert login.path == "/app/login" and parse_qs(login.query)["next"] == [page]
    # ...while a script asking for JSON still gets its 401.
    script = browser.get(page)
    assert script.status_code == 401 and script.json()["detail"]
    form = browser.get(sent.headers["location"], headers=HTML | {"Accept-Language": "en"})
    assert "Sign in to open /maps/grids?patrol_coverage=true&amp;problems=false." in form.text
    signed = _sign_in(browser, next_path=page)
    assert signed.status_code == 303 and signed.headers["location"] == page  # type: ignore[attr-defined]
    cookies = signed.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    session = next(c.lower() for c in cookies if c.startswith(SESSION_COOKIE))
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "secure" not in session  # plain HTTP here; see the HTTPS test
    assert browser.get(page, headers=HTML).status_code == 200
    me = browser.get("/app/login?lang=en", headers=HTML)
    assert "You are signed in as page-dispatcher (dispatcher)." in me.text
    assert browser.get("/auth/me").json()["name"] == "page-dispatcher"
    # Sign out: needs the page's token; then the cookie is gone and the page sends to sign in.
    assert browser.post("/app/logout").status_code == 403
    token = page_csrf_token(browser)
    out = browser.post("/app/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"].startswith("/app/login")
    assert SESSION_COOKIE not in browser.cookies
    assert browser.get(page, headers=HTML).status_code == 303
    assert browser.get("/auth/me").status_code == 401


def test_over_https_the_cookies_are_secure(client: TestClient) -> None:
    secure = TestClient(client.app, base_url="https://grid.example.cn", follow_redirects=False)
    with secure:
        token = page_csrf_token(secure)
        signed = secure.post(
            "/app/login",
            data={"username": "page-dispatcher", "password": PASSWORD, "csrf_token": token},
        )
    assert signed.status_code == 303
    cookies = [c.lower() for c in signed.headers.get_list("set-cookie")]
    assert len(cookies) == 2 and all("; secure" in c for c in cookies)


def test_a_wrong_password_or_a_missing_token_signs_no_one_in(browser: TestClient) -> None:
    wrong = _sign_in(browser, password="not the password")
    assert wrong.status_code == 401  # type: ignore[attr-defined]
    assert 'role="alert">账号或密码错误，或账号已停用。' in wrong.text  # type: ignore[attr-defined]
    assert 'aria-invalid="true"' in wrong.text  # type: ignore[attr-defined]
    assert SESSION_COOKIE not in browser.cookies
    # Another site's form: the browser's nonce cookie is not sent, or the token is not there.
    for token in ("", "0" * 64):
        forged = browser.post(
            "/app/login?lang=en",
            data={"username": "page-dispatcher", "password": PASSWORD, "csrf_token": token},
        )
        assert forged.status_code == 403
        assert "This form has expired. Please sign in again." in forged.text
        assert SESSION_COOKIE not in browser.cookies
    browser.cookies.clear()
    token = page_csrf_token(browser)
    browser.cookies.delete(CSRF_COOKIE)
    stale = browser.post(
        "/app/login",
        data={"username": "page-dispatcher", "password": PASSWORD, "csrf_token": token},
    )
    assert stale.status_code == 403 and SESSION_COOKIE not in browser.cookies
    missing = browser.post("/app/login", data={"csrf_token": token})
    assert missing.status_code == 422 and "username" in missing.json()["detail"]


def test_a_changed_or_dead_session_is_a_signed_out_browser(browser: TestClient) -> None:
    browser.cookies.set(SESSION_COOKIE, "not-a-token")
    page = browser.get("/app/login", headers=HTML)
    assert page.status_code == 200 and "<form" in page.text
    assert f'{SESSION_COOKIE}=""' in page.headers["set-cookie"]  # dropped
    assert browser.get("/maps/coverage", headers=HTML).status_code == 200


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/maps/patrols?id=3", True),
        ("/app/login", True),
        ("//evil.example/x", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("maps/grids", False),
        ("/maps\r\nSet-Cookie: x=1", False),
        ("", False),
    ],
)
def test_going_back_stays_on_this_server(target: str, kept: bool) -> None:
    assert local_target(target, default="/app/login") == (target if kept else "/app/login")


def test_after_sign_in_another_site_is_never_the_next_page(browser: TestClient) -> None:
    signed = _sign_in(browser, next_path="//evil.example/steal")
    assert signed.headers["location"] == "/app/login?lang=zh-CN"  # type: ignore[attr-defined]


def test_the_catalogs_hold_every_string_and_are_compiled() -> None:
    """Every string the templates and code mark is translated in each catalog, and the
    committed ``.mo`` is the compiled ``.po`` (scripts/i18n.sh was run after editing)."""
    marked = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT),
            method_map=[
                ("api/pages/**.py", "python"),
                ("api/pages/templates/**.html", "jinja2.ext.babel_extract"),
            ],
            options_map={"api/pages/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords={"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)},
        )
    }
    assert {"Sign in", "Password", "grid worker"} <= marked
    locales = [d for d in LOCALES_DIR.iterdir() if d.is_dir()]
    assert locales
    for locale in locales:
        folder = locale / "LC_MESSAGES"
        with (folder / "messages.po").open("rb") as po_file:
            po = read_po(po_file)
        with (folder / "messages.mo").open("rb") as mo_file:
            mo = read_mo(mo_file)
        translated = {
            _key(m.id): _key(m.string) for m in po if m.id and _done(m.string) and not m.fuzzy
        }
        assert {_key(m) for m in marked} <= set(translated), sorted(
            map(str, {_key(m) for m in marked} - set(translated))
        )
        assert {_key(m.id): _key(m.string) for m in mo if m.id} == translated, locale.name


def _done(string: Any) -> bool:
    """A translation given: the string, or every plural form of it, not empty."""
    return all(string) if isinstance(string, list | tuple) else bool(string)


def _key(message: Any) -> Any:
    """A catalog's message id or string; a plural one (singular and plural forms) as a tuple."""
    return tuple(message) if isinstance(message, list | tuple) else message
