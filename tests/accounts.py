"""Accounts for tests: create one in a database and get its bearer token's header."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis.access.accounts import create_user
from gis.access.tokens import issue_token
from tests.conftest import TEST_SECRET_KEY

PASSWORD = "correct horse battery"


def account_headers(
    engine: Engine,
    name: str,
    role: str,
    *,
    scope: str = "",
    worker: str | None = None,
    password: str = PASSWORD,
) -> dict[str, str]:
    """Create an account and return ``{"Authorization": "Bearer …"}`` signed with the test key."""
    with engine.begin() as conn:
        account = create_user(
            conn, name=name, role=role, password=password, scope_code=scope, worker_code=worker
        )
    issued = issue_token(account, key=TEST_SECRET_KEY, lifetime=timedelta(hours=1))
    return {"Authorization": f"Bearer {issued.token}"}


_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def page_csrf_token(client: TestClient, path: str = "/app/login") -> str:
    """Open a page as a browser would (``client`` keeps its CSRF nonce cookie) and return the
    token its forms carry."""
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    found = _CSRF_INPUT.search(page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
