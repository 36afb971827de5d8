"""Hostile input against a real server: JSON nested a thousand deep on every JSON endpoint,
and float parameters at the edge of what a float holds (issue 22, item 3)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest
from sqlalchemy import Engine

from api.hardening import MAX_JSON_DEPTH
from api.main import create_app
from tests import conftest
from tests.accounts import account_headers
from tests.conftest import fresh_database, settings_for
from tests.endpoints import SAMPLE_CALLS
from tests.maps.conftest import serve

JSON_CALLS = sorted(key for key, call in SAMPLE_CALLS.items() if call.json is not None)


@pytest.fixture(scope="module")
def engine(pg_server: conftest.TestServer, templates: dict[str, str]) -> Iterator[Engine]:
    yield from fresh_database(pg_server, templates["demo"])


@pytest.fixture(scope="module")
def admin(engine: Engine) -> dict[str, str]:
    return account_headers(engine, "hostile-admin", "admin")


@pytest.fixture(scope="module")
def base(engine: Engine) -> Iterator[str]:
    with serve(create_app(settings_for(engine), engine=engine)) as url:
        yield url


def _nested(depth: int) -> bytes:
    return b'{"action": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("key", JSON_CALLS)
@pytest.mark.parametrize("content_type", ["application/json", "text/json", None])
def test_deeply_nested_json_is_422_without_a_traceback(
    base: str,
    admin: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    key: tuple[str, str],
    content_type: str | None,
) -> None:
    method, path = key
    url = path.format(report_id=1, plan_id=1, household="H-0000001-0001")
    headers = dict(admin)
    if content_type:
        headers["Content-Type"] = content_type
    with caplog.at_level(logging.ERROR, logger="gridpatrol.api"):
        response = httpx2.request(
            method, base + url, content=_nested(1000), headers=headers, timeout=30
        )
    assert response.status_code == 422, (key, response.status_code, response.text)
    assert "Traceback" not in response.text and "RecursionError" not in response.text
    assert not [r for r in caplog.records if r.exc_info], "an exception was logged"


def test_nesting_is_refused_past_the_limit_and_taken_below_it(
    base: str, admin: dict[str, str]
) -> None:
    deep = httpx2.post(
        base + "/reports",
        content=b'{"lat": 30.6, "lon": 104.0, "x": '
        + b"[" * (MAX_JSON_DEPTH + 1)
        + b"]" * (MAX_JSON_DEPTH + 1)
        + b"}",
        headers={"Content-Type": "application/json", **admin},
        timeout=30,
    )
    assert deep.status_code == 422
    assert f"nested deeper than {MAX_JSON_DEPTH}" in deep.json()["detail"]
    # A body within the limit reaches validation (which names the missing fields instead).
    shallow = httpx2.post(
        base + "/reports",
        content=b'{"x": ' + b"[" * 10 + b"]" * 10 + b"}",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert shallow.status_code == 422 and "category" in shallow.json()["detail"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("size_m=1e-200", "size_m"),
        ("size_m=5e-324", "size_m"),
        ("size_m=1e308", "size_m"),
        ("size_m=-0.0", "size_m"),
        ("permutations=1", "permutations"),
        ("unit=square", "unit"),
    ],
)
@pytest.mark.parametrize("path", ["/analytics/hotspots", "/maps/hotspots"])
def test_float_parameters_at_the_edges_are_422(
    base: str, admin: dict[str, str], path: str, query: str, named: str
) -> None:
    response = httpx2.get(f"{base}{path}?unit=hex&{query}", headers=admin, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(named)


def test_openapi_bounds_every_number_parameter(base: str) -> None:
    """Every float and integer parameter says what it accepts (minimum and maximum); tile
    coordinates excepted (their range depends on the zoom: a 400 names it)."""
    document = httpx2.get(base + "/openapi.json", timeout=30).json()
    unbounded = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                options = schema.get("anyOf", [schema])
                for option in options:
                    if option.get("type") not in ("number", "integer") or path.startswith(
                        "/tiles/"
                    ):
                        continue
                    low = "minimum" in option or "exclusiveMinimum" in option
                    high = "maximum" in option or "exclusiveMaximum" in option
                    if not (low and high):
                        unbounded.append(f"{method.upper()} {path} {parameter['name']}")
    assert unbounded == []


def test_openapi_says_an_idempotency_key_is_not_empty(base: str) -> None:
    """An empty key is refused (422), so the document says so: schemathesis found requests
    valid by the schema and refused by the server."""
    document = httpx2.get(base + "/openapi.json", timeout=30).json()
    for path in ("/reports", "/open311/v2/requests.json"):
        (header,) = [
            p
            for p in document["paths"][path]["post"]["parameters"]
            if p["name"] == "Idempotency-Key"
        ]
        options = header["schema"].get("anyOf", [header["schema"]])
        assert any(o.get("minLength") == 1 for o in options), path
    empty = httpx2.post(
        base + "/reports",
        json={"lat": 30.66, "lon": 104.06, "category": "sanitation", "description": "x"},
        headers={"Idempotency-Key": ""},
        timeout=30,
    )
    assert empty.status_code == 422 and "Idempotency-Key" in empty.json()["detail"]
