"""The smaller findings of the third hardening round (issue 22, item 7), against a real
server: /health hides the driver message, links ignore the Host header, 405s list every
method, HEAD answers like GET, duplicates must match, public events name no worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import Engine, text

from api.main import create_app
from gis.core.db import make_engine
from tests.accounts import account_headers
from tests.conftest import settings_for
from tests.endpoints import INLAND
from tests.live import free_port
from tests.maps.conftest import serve

REPORT = {**INLAND, "category": "sanitation", "description": "bins"}


def test_health_with_the_database_down_names_no_user_host_or_port() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://secretuser:secretpw@127.0.0.1:{port}/gp_nowhere"
    engine = make_engine(url)
    app = create_app(settings_for(engine), engine=engine)
    try:
        with serve(app) as base:
            response = httpx2.get(base + "/health", timeout=30)
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json() == {"detail": "the database is unavailable; try again shortly"}
    for secret in ("secretuser", "secretpw", str(port), "127.0.0.1", "gp_nowhere"):
        assert secret not in response.text


@pytest.fixture(scope="module")
def base(shared_demo_engine: Engine) -> Iterator[str]:
    with serve(create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)) as url:
        yield url


LINKED = ["/ogc", "/ogc/collections", "/ogc/collections/grids", "/tiles", "/tiles/grids.json"]


@pytest.mark.parametrize("path", LINKED)
def test_links_never_echo_the_host_header(base: str, path: str) -> None:
    response = httpx2.get(base + path, headers={"Host": "evil.example:666"}, timeout=30)
    assert response.status_code == 200, response.text
    assert "evil.example" not in response.text
    assert base in response.text  # the address the server listens on


@pytest.mark.parametrize("path", LINKED)
def test_links_use_the_configured_public_url(shared_demo_engine: Engine, path: str) -> None:
    settings = settings_for(shared_demo_engine, public_url="https://gis.example.org/city/")
    with serve(create_app(settings, engine=shared_demo_engine)) as url:
        response = httpx2.get(url + path, headers={"Host": "evil.example"}, timeout=30)
    assert response.status_code == 200
    assert "evil.example" not in response.text and url not in response.text
    assert "https://gis.example.org/city/" in response.text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/reports", "GET, HEAD, POST"),
        ("PUT", "/reports", "GET, HEAD, POST"),
        ("DELETE", "/reports/1", "GET, HEAD"),
        ("GET", "/reports/1/transitions", "POST"),
        ("PATCH", "/patrols", "GET, HEAD"),
        ("DELETE", "/open311/v2/requests.json", "GET, HEAD, POST"),
        # A concrete path is matched before a templated one (/patrols/{plan_id} takes GET):
        # a 405 naming its own methods, not the template's 422 for plan_id=plan.
        ("GET", "/patrols/plan", "POST"),
        ("DELETE", "/patrols/plan", "POST"),
    ],
)
def test_405_lists_every_allowed_method(base: str, method: str, path: str, allow: str) -> None:
    response = httpx2.request(method, base + path, timeout=30)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("path", ["/maps/coverage", "/categories", "/tiles/grids.json"])
def test_head_answers_like_get_without_a_body(base: str, path: str) -> None:
    get = httpx2.get(base + path, timeout=60)
    head = httpx2.head(base + path, timeout=60)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


@pytest.fixture
def writable(city_engine: Engine) -> Iterator[tuple[str, Engine]]:
    with serve(create_app(settings_for(city_engine), engine=city_engine)) as url:
        yield url, city_engine


def _post(base: str, body: dict[str, Any]) -> int:
    response = httpx2.post(base + "/reports", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_confirm_duplicate_refuses_another_category_or_district(
    writable: tuple[str, Engine],
) -> None:
    base, engine = writable
    admin = account_headers(engine, "root", "admin")
    with engine.connect() as conn:
        here = conn.execute(
            text(
                "SELECT d.code FROM districts d WHERE ST_Intersects(d.geom, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            INLAND,
        ).scalar_one()
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p FROM grids g "
                "WHERE left(g.code, 6) <> :here ORDER BY g.code LIMIT 1) s"
            ),
            {"here": here},
        ).one()
    original = _post(base, REPORT)
    other_category = _post(base, {**REPORT, "category": "parking"})
    other_district = _post(base, {**REPORT, "lat": lat, "lon": lon})
    same = _post(base, {**REPORT, "description": "the same bins"})
    for rid, named in ((other_category, "'parking'"), (other_district, "district")):
        response = httpx2.post(
            f"{base}/reports/{rid}/transitions",
            json={"action": "confirm_duplicate", "duplicate_of": original},
            headers=admin,
            timeout=30,
        )
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail.startswith("duplicate_of:") and named in detail
    ok = httpx2.post(
        f"{base}/reports/{same}/transitions",
        json={"action": "confirm_duplicate", "duplicate_of": original},
        headers=admin,
        timeout=30,
    )
    assert ok.status_code == 200 and ok.json()["status"] == "duplicate"


def test_public_event_view_hides_the_assigned_worker(writable: tuple[str, Engine]) -> None:
    base, engine = writable
    admin = account_headers(engine, "root", "admin")
    rid = _post(base, REPORT)
    for action in ("accept", "dispatch"):
        response = httpx2.post(
            f"{base}/reports/{rid}/transitions", json={"action": action}, headers=admin
        )
        assert response.status_code == 200, response.text
    private = httpx2.get(f"{base}/reports/{rid}/events", headers=admin, timeout=30).json()
    public = httpx2.get(f"{base}/reports/{rid}/events", timeout=30).json()
    assert "worker_id" in private[-1]["details"]
    assert [e["action"] for e in public] == ["report", "accept", "dispatch"]
    assert all("worker_id" not in e["details"] for e in public)
