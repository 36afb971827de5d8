"""The life circle page (``/app/areas``) through the app: it asks for an account, its gaps table
holds the numbers ``GET /service-areas/gaps`` gives the same account for the same limit, its
siting those of ``POST /service-areas/siting``; bad input is named in the page, a form from
another site is refused, a full pool of heavy computations says when to try again. The map's
``bbox`` requests answer the view's part of the whole city (checked with shapely)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from api.main import create_app
from tests.accounts import PASSWORD, account_headers, page_csrf_token
from tests.conftest import settings_for

HTML = {"Accept": "text/html,application/xhtml+xml"}
ROW = re.compile(
    r'<tr data-unit="([^"]*)" data-bounds="([^"]*)">.*?'
    r'<td class="num">(\d+)</td>\s*<td class="num beyond-residents">(\d+)</td>\s*'
    r'<td class="num beyond-buildings">(\d+)</td>\s*<td class="num across">(\d+)</td>',
    re.S,
)


@dataclass
class Site:
    client: TestClient
    engine: Engine
    bearer: dict[str, str]


@pytest.fixture(scope="module")
def site(pg_server: object, templates: dict[str, str]) -> Iterator[Site]:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):  # type: ignore[arg-type]
        # One heavy slot, a short wait: a test holding it sees the page's busy answer.
        settings = settings_for(engine, heavy_slots=1, heavy_wait_s=0.2, heavy_retry_after_s=7)
        app = create_app(settings, engine=engine)
        with TestClient(app, follow_redirects=False) as client:
            bearer = account_headers(engine, "lc-analyst", "analyst")
            account_headers(engine, "lc-worker", "worker", scope="990101")
            yield Site(client, engine, bearer)


@pytest.fixture
def browser(site: Site) -> Iterator[TestClient]:
    site.client.cookies.clear()
    yield site.client
    site.client.cookies.clear()


def _sign_in(client: TestClient, name: str = "lc-analyst") -> None:
    token = page_csrf_token(client)
    done = client.post(
        "/app/login", data={"username": name, "password": PASSWORD, "csrf_token": token}
    )
    assert done.status_code == 303, done.text


def _rows(html: str) -> list[tuple[str, int, int, int, int]]:
    return [
        (unit, int(residents), int(beyond), int(buildings), int(across))
        for unit, _bounds, residents, beyond, buildings, across in ROW.findall(html)
    ]


def _siting(client: TestClient, form: dict[str, str], *, htmx: bool = True) -> Any:
    token = page_csrf_token(client, "/app/areas?lang=en")
    headers = {"HX-Request": "true"} if htmx else HTML
    return client.post(
        "/app/areas/siting?lang=en", data={"csrf_token": token, **form}, headers=headers
    )


def test_the_page_asks_for_an_account(browser: TestClient) -> None:
    page = browser.get("/app/areas?minutes=12", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/app/login?next=%2Fapp%2Fareas%3Fminutes%3D12"
    # A script (no HTML asked for) gets the API's 401.
    assert browser.get("/app/areas").status_code == 401


@pytest.mark.parametrize("role", ["lc-analyst", "lc-worker"])
def test_any_account_opens_it_in_chinese_by_default(browser: TestClient, role: str) -> None:
    _sign_in(browser, role)
    page = browser.get("/app/areas", headers=HTML)
    assert page.status_code == 200, page.text
    assert '<html lang="zh-CN">' in page.text and "15分钟生活圈" in page.text
    # The map's layers come from the API by view, not inlined: no GeoJSON in the page.
    assert '"FeatureCollection"' not in page.text and '"coordinates"' not in page.text
    assert 'data-areas="/service-areas?kind=service_station&amp;minutes=15' in page.text
    english = browser.get("/app/areas?lang=en", headers=HTML)
    assert "15-minute life circle" in english.text


@pytest.mark.parametrize(("level", "minutes"), [("community", "12"), ("district", "15")])
def test_the_gaps_table_shows_the_apis_numbers(
    browser: TestClient, site: Site, level: str, minutes: str
) -> None:
    _sign_in(browser)
    page = browser.get(
        "/app/areas", params={"lang": "en", "minutes": minutes, "level": level}, headers=HTML
    )
    assert page.status_code == 200, page.text
    rows = _rows(page.text)
    # The same account's JSON for the same limit (its session, then its bearer token).
    api = browser.get("/service-areas/gaps", params={"minutes": minutes, "limit": 1}).json()
    assert (
        api
        == site.client.get(
            "/service-areas/gaps", params={"minutes": minutes, "limit": 1}, headers=site.bearer
        ).json()
    )
    units = api["by_community" if level == "community" else "by_district"]
    expected = sorted(
        sorted(units, key=lambda u: u["code"] or "~"),
        key=lambda u: u["beyond_residents"],
        reverse=True,
    )[:20]
    assert rows == [
        (
            u["code"] or "",
            u["residents"],
            u["beyond_residents"],
            u["beyond_buildings"],
            u["across_border_buildings"],
        )
        for u in expected
    ]
    assert any(beyond > 0 for _, _, beyond, _, _ in rows)
    summary = re.search(r'<p id="gaps-summary">([^<]*)</p>', page.text)
    assert summary and f"{api['beyond_buildings']} buildings ({api['beyond_residents']}" in (
        summary.group(1)
    )
    # Ascending: the same units the other way round (first page).
    up = browser.get(
        "/app/areas",
        params={"lang": "en", "minutes": minutes, "level": level, "order": "asc"},
        headers=HTML,
    )
    beyond_up = [beyond for _, _, beyond, _, _ in _rows(up.text)]
    assert beyond_up == sorted(beyond_up)
    assert beyond_up[0] == min(u["beyond_residents"] for u in units)


def test_a_row_zooms_to_its_units_bounds(browser: TestClient, site: Site) -> None:
    _sign_in(browser)
    page = browser.get("/app/areas?lang=en", headers=HTML)
    bounds = {unit: box for unit, box, *_ in ROW.findall(page.text)}
    with site.engine.connect() as conn:
        rows = conn.execute(text("SELECT code, ST_AsBinary(geom) FROM communities")).all()
    extents = {code: shapely.from_wkb(bytes(geom)).bounds for code, geom in rows}
    checked = 0
    for unit, box in bounds.items():
        if unit in extents:
            assert [float(v) for v in box.split(",")] == pytest.approx(extents[unit], abs=1e-5)
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"minutes": "500"}, "Walk limit: a number of minutes from 0.1 to 120."),
        ({"minutes": "soon"}, "Walk limit: a number of minutes from 0.1 to 120."),
        ({"walk_speed_kmh": "0"}, "Walking speed: a number of km/h from 1 to 10."),
        ({"kind": "tower"}, "Facility kind: choose one of the list."),
    ],
)
def test_a_bad_limit_is_named_in_the_page(
    browser: TestClient, params: dict[str, str], named: str
) -> None:
    _sign_in(browser)
    page = browser.get("/app/areas", params={"lang": "en", **params}, headers=HTML)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert f'<p class="error" id="limit-error" role="alert">{named}</p>' in page.text


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"new_sites": "0"}, "Number of new stations: a whole number from 1 to 100."),
        ({"new_sites": "101"}, "Number of new stations: a whole number from 1 to 100."),
        ({"new_sites": "two"}, "Number of new stations: a whole number from 1 to 100."),
        ({"new_sites": "1", "candidates": "towers"}, "Candidates: choose one of the list."),
        (
            {"new_sites": "1", "candidates": "points", "points": "104.06"},
            "Candidate points, line 1: expected longitude,latitude,label",
        ),
        (
            {"new_sites": "1", "candidates": "points", "points": "104.06,30.66\n200,30,x"},
            "Candidate points, line 2: longitude from -180 to 180",
        ),
        ({"new_sites": "1", "candidates": "points", "points": " "}, "type one point a line"),
    ],
)
def test_bad_siting_input_is_named(browser: TestClient, form: dict[str, str], named: str) -> None:
    _sign_in(browser)
    answer = _siting(browser, form)
    assert answer.status_code == 422
    assert 'id="siting-error"' in answer.text and named in answer.text
    # Without htmx, the whole page with the message under the form.
    page = _siting(browser, form, htmx=False)
    assert page.status_code == 422
    assert 'id="siting-form"' in page.text and named in page.text


def test_siting_shows_the_apis_result(browser: TestClient, site: Site) -> None:
    _sign_in(browser)
    gaps = site.client.get("/service-areas/gaps", params={"limit": 3}, headers=site.bearer).json()
    points = [
        {"lon": g["lon"], "lat": g["lat"], "label": f"near {g['code']}"} for g in gaps["gaps"]
    ]
    typed = "\n".join(f"{p['lon']},{p['lat']},{p['label']}" for p in points)
    answer = _siting(browser, {"new_sites": "1", "candidates": "points", "points": typed})
    assert answer.status_code == 200, answer.text
    api = site.client.post(
        "/service-areas/siting",
        json={"new_sites": 1, "candidates": points},
        headers=site.bearer,
    ).json()
    html = answer.text
    assert f'<dd id="covered-before">{api["covered_before"]} (' in html
    gain = api["covered_after"] - api["covered_before"]
    assert f'<dd id="covered-after">{api["covered_after"]} (' in html and f"+{gain}</dd>" in html
    assert f'<dd id="greedy-after">{api["greedy_covered_after"]} (' in html
    assert f'<dd id="mip-status">{api["status"]}' in html
    (chosen,) = api["sites"]
    assert chosen["label"] in html and chosen["new_residents"] > 0
    sites = re.search(r'data-sites="([^"]*)"', html)
    assert sites and chosen["label"] in sites.group(1)


def test_a_form_from_another_site_is_refused(browser: TestClient) -> None:
    _sign_in(browser)
    refused = browser.post(
        "/app/areas/siting", data={"new_sites": "1"}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "csrf" in refused.json()["detail"]


def test_a_busy_server_says_when_to_try_again(browser: TestClient, site: Site) -> None:
    _sign_in(browser)
    token = page_csrf_token(browser, "/app/areas?lang=en")
    pool = site.client.app.state.heavy_pool  # type: ignore[attr-defined]
    with pool.slot("a test holding the only slot"):
        answer = browser.post(
            "/app/areas/siting?lang=en",
            data={"csrf_token": token, "new_sites": "1", "candidates": "facilities"},
            headers={"HX-Request": "true"},
        )
        page = browser.get("/app/areas?lang=en", headers=HTML)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
    assert "busy with other heavy computations: try again in 7 s" in answer.text
    assert page.status_code == 503 and "try again in 7 s" in page.text


def test_the_maps_bbox_requests_answer_the_views_part(site: Site) -> None:
    client, bearer = site.client, site.bearer
    whole = client.get("/service-areas", headers=bearer).json()["features"]
    gaps = client.get("/service-areas/gaps", params={"limit": 1000}, headers=bearer).json()
    far = gaps["gaps"][0]
    box = (far["lon"] - 0.004, far["lat"] - 0.004, far["lon"] + 0.004, far["lat"] + 0.004)
    bbox = ",".join(str(v) for v in box)
    view = shapely.box(*box)
    part = client.get("/service-areas", params={"bbox": bbox}, headers=bearer).json()["features"]
    expected = {
        f["properties"]["code"]
        for f in whole
        if f["geometry"] and shape(f["geometry"]).intersects(view)
    }
    assert {f["properties"]["code"] for f in part} == expected
    assert len(expected) < len(whole)
    inside = client.get(
        "/service-areas/gaps", params={"bbox": bbox, "limit": 1000}, headers=bearer
    ).json()
    assert [g["code"] for g in inside["gaps"]] == [
        g["code"]
        for g in gaps["gaps"]
        if box[0] <= g["lon"] <= box[2] and box[1] <= g["lat"] <= box[3]
    ]
    assert far["code"] in [g["code"] for g in inside["gaps"]]
    # The totals stay the whole city's.
    assert inside["beyond_residents"] == gaps["beyond_residents"]
    bad = client.get("/service-areas", params={"bbox": "1,2,3"}, headers=bearer)
    assert bad.status_code == 422 and "bbox" in bad.json()["detail"]
