"""OGC API Features over HTTP: documents match their models, paging and filters give what
shapely and pandas say about the same rows, bad parameters are 400s naming the problem."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from api.schemas.ogc import Collection, Collections, Conformance, Items, ItemWithLinks, LandingPage
from gis.ogc.features import CONFORMANCE
from gis.tiles.registry import PUBLISHED
from tests.conftest import settings_for

BBOX = (104.045, 30.650, 104.062, 30.664)


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def frames(shared_demo_engine: Engine) -> dict[str, gpd.GeoDataFrame]:
    with shared_demo_engine.connect() as conn:
        return {
            "grids": gpd.read_postgis("SELECT code, geom FROM grids", conn, geom_col="geom"),
            "buildings": gpd.read_postgis(
                "SELECT code, geom FROM buildings", conn, geom_col="geom"
            ),
            "reports": gpd.read_postgis(
                "SELECT id, reported_at, geom FROM reports", conn, geom_col="geom"
            ),
        }


def _link(document: dict[str, Any], rel: str) -> str | None:
    return next((link["href"] for link in document["links"] if link["rel"] == rel), None)


def test_landing_page_and_conformance(client: TestClient) -> None:
    landing = client.get("/ogc")
    assert landing.status_code == 200
    page = LandingPage.model_validate(landing.json())
    rels = {link.rel: link.href for link in page.links}
    assert rels["data"] == "http://testserver/ogc/collections"
    assert rels["conformance"] == "http://testserver/ogc/conformance"
    assert client.get(rels["service-desc"]).json()["paths"][
        "/ogc/collections/{collection_id}/items"
    ]
    conformance = Conformance.model_validate(client.get("/ogc/conformance").json())
    # Only what is implemented: Core and GeoJSON (FastAPI's OpenAPI is 3.1, not OAS 3.0).
    assert conformance.conformsTo == list(CONFORMANCE)
    assert not any("oas30" in c or "html" in c for c in conformance.conformsTo)


def test_collections_carry_extents_and_crs(
    client: TestClient, frames: dict[str, gpd.GeoDataFrame]
) -> None:
    body = Collections.model_validate(client.get("/ogc/collections").json())
    # Anonymously: the public ones (patrol routes need an account allowed to read patrols).
    assert [c.id for c in body.collections] == [n for n, p in PUBLISHED.items() if p.public]
    grids = Collection.model_validate(client.get("/ogc/collections/grids").json())
    assert grids.crs == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
    assert grids.extent.spatial.bbox[0] == pytest.approx(list(frames["grids"].total_bounds))
    assert grids.extent.temporal is None
    reports = Collection.model_validate(client.get("/ogc/collections/reports").json())
    assert reports.extent.temporal is not None
    start, end = reports.extent.temporal.interval[0]
    times = frames["reports"]["reported_at"]
    assert start is not None and end is not None
    assert datetime.fromisoformat(start) == times.min().to_pydatetime()
    assert datetime.fromisoformat(end) == times.max().to_pydatetime()
    items = _link(client.get("/ogc/collections/grids").json(), "items")
    assert items == "http://testserver/ogc/collections/grids/items"


def test_paging_follows_next_links_through_every_feature(
    client: TestClient, frames: dict[str, gpd.GeoDataFrame]
) -> None:
    url: str | None = "/ogc/collections/grids/items?limit=20"
    seen: list[str] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.headers["content-type"] == "application/geo+json"
        page = Items.model_validate_json(response.content)
        assert page.numberMatched == len(frames["grids"])
        assert page.numberReturned == len(page.features) <= 20
        seen += [str(f.id) for f in page.features]
        document = response.json()
        if pages:
            assert _link(document, "prev") is not None
        url = _link(document, "next")
        pages += 1
    assert pages == 4 and sorted(seen) == sorted(frames["grids"]["code"]) and len(set(seen)) == 68


def test_bbox_filter_matches_shapely(
    client: TestClient, frames: dict[str, gpd.GeoDataFrame]
) -> None:
    buildings = frames["buildings"]
    expected = set(buildings.loc[buildings.intersects(shapely.box(*BBOX)), "code"])
    bbox = ",".join(map(str, BBOX))
    page = client.get(f"/ogc/collections/buildings/items?bbox={bbox}&limit=10000").json()
    assert page["numberMatched"] == len(expected) > 0
    assert {f["id"] for f in page["features"]} == expected


@pytest.mark.parametrize(
    "window",
    [
        "2025-03-01T00:00:00Z/2025-03-31T23:59:59Z",
        "../2025-02-01T00:00:00+08:00",
        "2025-11-01T00:00:00Z/..",
        "2025-06-15",
    ],
)
def test_datetime_filters_reports_by_report_time(
    client: TestClient, frames: dict[str, gpd.GeoDataFrame], window: str
) -> None:
    times = frames["reports"]["reported_at"]
    if "/" in window:
        first, second = window.split("/")
        start = pd.Timestamp(first) if first != ".." else times.min()
        end = pd.Timestamp(second) if second != ".." else times.max()
    else:
        start = pd.Timestamp(window, tz=UTC)
        end = start + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    expected = int(((times >= start) & (times <= end)).sum())
    page = client.get("/ogc/collections/reports/items", params={"datetime": window}).json()
    assert page["numberMatched"] == expected > 0


def test_one_item_and_missing_ones(client: TestClient, shared_demo_engine: Engine) -> None:
    response = client.get("/ogc/collections/grids/items/990101001001004")
    assert response.status_code == 200
    item = ItemWithLinks.model_validate_json(response.content)
    with shared_demo_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT ST_AsText(geom) FROM grids WHERE code = '990101001001004'")
        ).scalar_one()
    assert shapely.from_geojson(response.text).equals_exact(shapely.from_wkt(stored), 1e-7)
    assert {link.rel for link in item.links} == {"self", "collection"}
    closed = client.get("/ogc/collections/reports/items?limit=1").json()["features"][0]
    assert client.get(f"/ogc/collections/reports/items/{closed['id']}").status_code == 200
    for path, word in [
        ("/ogc/collections/grids/items/990101999999999", "990101999999999"),
        ("/ogc/collections/roads/items/abc", "abc"),
        ("/ogc/collections/parcels/items", "parcels"),
        ("/ogc/collections/parcels", "parcels"),
    ]:
        missing = client.get(path)
        assert missing.status_code == 404 and word in missing.json()["detail"]


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=104,95,105,96", "bbox"),
        ("bbox=105,30,104,31", "bbox"),
        ("datetime=yesterday", "datetime"),
        ("datetime=2025-03-01T00:00:00", "time zone"),
        ("datetime=2025-04-01T00:00:00Z/2025-03-01T00:00:00Z", "datetime"),
        ("datetime=../..", "datetime"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("crs=EPSG:4326", "crs"),
        ("f=html", "f"),
    ],
)
def test_bad_parameters_are_400_naming_them(client: TestClient, query: str, word: str) -> None:
    response = client.get(f"/ogc/collections/reports/items?{query}")
    assert response.status_code == 400, response.text
    assert word in response.json()["detail"]


def test_datetime_on_a_collection_without_time_is_400(client: TestClient) -> None:
    response = client.get("/ogc/collections/grids/items?datetime=2025-03-01T00:00:00Z")
    assert response.status_code == 400 and "datetime" in response.json()["detail"]
    assert client.get("/ogc/conformance?limit=3").status_code == 400


def test_limit_above_the_maximum_is_the_maximum(client: TestClient) -> None:
    page = client.get("/ogc/collections/reports/items?limit=50000").json()
    assert page["numberReturned"] == 10_000 and page["numberMatched"] == 24_000
    assert "limit=10000" in (_link(page, "next") or "")


def test_unchanged_page_is_304(client: TestClient) -> None:
    first = client.get("/ogc/collections/facilities/items?limit=5")
    again = client.get(
        "/ogc/collections/facilities/items?limit=5",
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    other_page = client.get("/ogc/collections/facilities/items?limit=5&offset=5")
    assert other_page.headers["etag"] != first.headers["etag"]


def test_reports_never_show_the_reporter(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        report_id = conn.execute(
            text(
                "UPDATE reports SET reporter_name = 'Zhang San', reporter_phone = '13800000000', "
                "photo_url = 'http://x/p.jpg', status = 'reported' "
                "WHERE id = (SELECT min(id) FROM reports) RETURNING id"
            )
        ).scalar_one()
    app = create_app(settings_for(demo_engine), engine=demo_engine)
    with TestClient(app) as client:
        bodies = [
            client.get(f"/ogc/collections/{c}/items/{report_id}").text
            for c in ("reports", "open_reports")
        ]
        bodies.append(client.get("/ogc/collections/open_reports/items?limit=10000").text)
    for body in bodies:
        assert str(report_id) in body
        for secret in ("Zhang San", "13800000000", "p.jpg", "reporter", "photo"):
            assert secret not in body


def test_number_matched_follows_changes(demo_engine: Engine) -> None:
    app = create_app(settings_for(demo_engine), engine=demo_engine)
    with TestClient(app) as client:
        before = client.get("/ogc/collections/facilities/items?limit=1").json()["numberMatched"]
        assert (
            client.get("/ogc/collections/facilities/items?limit=2").json()["numberMatched"]
            == before
        )
        with demo_engine.begin() as conn:
            conn.execute(text("DELETE FROM facilities WHERE id = (SELECT min(id) FROM facilities)"))
        after = client.get("/ogc/collections/facilities/items?limit=1").json()["numberMatched"]
    assert after == before - 1
