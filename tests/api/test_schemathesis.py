"""schemathesis over the whole OpenAPI document against a real ``gridpatrol serve`` on the demo
city, anonymously and with a dispatcher's token: no 5xx, and every answer's status, content
type, headers and body as the document declares. Then the server's log, after all of that and
requests carrying planted personal data, holds none of it.

Bounded: a fixed number of generated examples per operation (fewer for the expensive analyses
and map pages), schemathesis's boundary cases once (anonymously), derandomized so CI runs the
same cases each time; about a minute and a half on two cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from api.main import create_app
from gis.core.settings import Settings
from tests import conftest
from tests.accounts import PASSWORD, account_headers
from tests.conftest import TEST_SECRET_KEY, fresh_database
from tests.endpoints import INLAND, OPEN311_FORM, PLANTED_CONTACT, PLANTED_WORKER, leaks
from tests.live import serve_process, server_env

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Map pages and Gi* analyses cost up to seconds a request: fewer examples there.
EXPENSIVE = r"^/(maps/|analytics/hotspots)"
GRID = "990101001001001"
TestFunction = TypeVar("TestFunction", bound=Callable[..., None])


def over(
    operations: Any, *, max_examples: int, boundaries: bool = False
) -> Callable[[TestFunction], TestFunction]:
    """Run the test for each of ``operations`` on ``max_examples`` generated cases, and with
    ``boundaries`` also on schemathesis's coverage cases (boundary and invalid values, every
    HTTP method; not counted in ``max_examples``). Derandomized: CI runs the same cases; no
    example database, no shrinking (a failure is printed as found)."""
    phases = [Phase.explicit, Phase.generate] if boundaries else [Phase.generate]
    bounded = settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )

    def decorate(test: TestFunction) -> TestFunction:
        return cast(TestFunction, operations.parametrize()(bounded(test)))

    return decorate


@dataclass
class Live:
    base: str
    log: Path
    dispatcher: dict[str, str]


@pytest.fixture(scope="module")
def live(
    pg_server: conftest.TestServer, templates: dict[str, str], tmp_path_factory: Any
) -> Iterator[Live]:
    database = contextmanager(fresh_database)(pg_server, templates["demo"])
    with database as engine:
        dispatcher = account_headers(engine, "dispatcher-li", "dispatcher", scope="990101")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE workers SET name = :name, phone = :phone WHERE id = (SELECT "
                    "min(worker_id) FROM worker_grids WHERE grid_code = :grid)"
                ),
                {**PLANTED_WORKER, "grid": GRID},
            )
        log = tmp_path_factory.mktemp("serve") / "server.log"
        with serve_process(server_env(engine), log) as base:
            yield Live(base, log, dispatcher)


# The document as the app builds it (no database needed); the live server must serve the same.
SPEC = create_app(Settings(tile_url="", secret_key=TEST_SECRET_KEY)).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


def test_the_server_serves_the_document_tested(live: Live) -> None:
    assert httpx2.get(f"{live.base}/openapi.json", timeout=30).json() == SPEC


def _call(case: Any, live: Live, headers: dict[str, str] | None = None) -> None:
    case.call_and_validate(base_url=live.base, headers=headers, checks=CHECKS, timeout=60)


@over(schema.exclude(path_regex=EXPENSIVE), max_examples=10, boundaries=True)
def test_anonymous(case: Any, live: Live) -> None:
    _call(case, live)


@over(schema.exclude(path_regex=EXPENSIVE), max_examples=15)
def test_with_a_token(case: Any, live: Live) -> None:
    _call(case, live, live.dispatcher)


@over(schema.include(path_regex=EXPENSIVE), max_examples=3)
def test_expensive_anonymous(case: Any, live: Live) -> None:
    _call(case, live)


@over(schema.include(path_regex=EXPENSIVE), max_examples=3)
def test_expensive_with_a_token(case: Any, live: Live) -> None:
    _call(case, live, live.dispatcher)


def test_the_server_log_holds_no_personal_data(live: Live) -> None:
    """Requests carrying planted contacts and a planted password — accepted, refused,
    conflicting — then the whole log of the server (schemathesis's run included) is read."""
    report = {"category": "sanitation", "description": "bins", **INLAND, **PLANTED_CONTACT}
    open311 = dict(OPEN311_FORM)
    with httpx2.Client(base_url=live.base, timeout=60) as http:
        key = {"Idempotency-Key": "log-test"}
        created = http.post("/reports", json=report, headers=key)
        assert created.status_code == 201
        assert http.post("/reports", json=report | {"lat": 30.6}, headers=key).status_code == 409
        too_long = report | {"reporter_phone": PLANTED_CONTACT["reporter_phone"] * 5}
        assert http.post("/reports", json=too_long).status_code == 422
        assert http.post("/open311/v2/requests.json", data=open311).status_code == 201
        assert (
            http.post("/open311/v2/requests.json", data=open311 | {"lat": "x"}).status_code == 400
        )
        shown = http.get(f"/reports/{created.json()['id']}", headers=live.dispatcher)
        assert set(leaks(shown.text)) >= set(PLANTED_CONTACT.values())  # it was there to log
        workers = http.get("/workers", params={"grid": GRID}, headers=live.dispatcher)
        assert PLANTED_WORKER["phone"] in workers.text  # the directory shows it, the log not
        wrong = http.post(
            "/auth/token", data={"username": "dispatcher-li", "password": "13911112222x"}
        )
        assert wrong.status_code == 401
        right = http.post("/auth/token", data={"username": "dispatcher-li", "password": PASSWORD})
        assert right.status_code == 200
    time.sleep(0.5)  # let the server flush its last lines
    text = live.log.read_text()
    assert "GET /reports/" in text  # the access log is there
    assert leaks(text) == []
    assert PASSWORD not in text and "13911112222x" not in text
    assert right.json()["access_token"] not in text
