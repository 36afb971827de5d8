"""Photos over HTTP: staff in scope attach, list and fetch them; to anyone else they do not
exist; a resident attaches theirs with the report from the page, all or nothing."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from api.main import create_app
from gis.reports.photos import MAX_PHOTO_BYTES
from tests.accounts import account_headers, page_csrf_token
from tests.conftest import settings_for
from tests.endpoints import INLAND
from tests.gis.reports.test_photos import GPS_IFD, jpeg_with_gps

HTML = {"Accept": "text/html"}


@dataclass
class Site:
    client: TestClient
    engine: Engine
    photo_dir: Path
    report_id: int
    inside: dict[str, str]
    outside: dict[str, str]
    worker_elsewhere: dict[str, str]

    def rows(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            return tuple(
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM report_photos), "
                        "(SELECT count(*) FROM reports)"
                    )
                ).one()
            )

    def files(self) -> set[Path]:
        return {p for p in self.photo_dir.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def site(
    pg_server: object, templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    from tests.conftest import fresh_database

    photo_dir = tmp_path_factory.mktemp("photos")
    for engine in fresh_database(pg_server, templates["city"]):  # type: ignore[arg-type]
        inside = account_headers(engine, "photo-dispatcher", "dispatcher", scope="990101")
        with engine.connect() as conn:
            other = conn.execute(
                text("SELECT min(code) FROM districts WHERE code <> '990101'")
            ).scalar_one()
            other_grid = conn.execute(
                text("SELECT min(code) FROM grids WHERE code LIKE :d || '%'"), {"d": other}
            ).scalar_one()
        outside = account_headers(engine, "photo-elsewhere", "dispatcher", scope=other)
        worker = account_headers(engine, "photo-worker-elsewhere", "worker", scope=other_grid)
        app = create_app(settings_for(engine, photo_dir=photo_dir), engine=engine)
        with TestClient(app, follow_redirects=False) as client:
            created = client.post(
                "/reports", json={"category": "sanitation", "description": "photo", **INLAND}
            )
            assert created.status_code == 201, created.text
            assert created.json()["location"]["district_code"] == "990101"
            yield Site(
                client, engine, photo_dir, int(created.json()["id"]), inside, outside, worker
            )


def _part(data: bytes, name: str = "p.jpg", kind: str = "image/jpeg") -> tuple[str, Any]:
    return ("photo", (name, data, kind))


def test_upload_list_fetch_in_scope(site: Site) -> None:
    rid = site.report_id
    added = site.client.post(
        f"/reports/{rid}/photos",
        files=[_part(jpeg_with_gps()), _part(jpeg_with_gps((30, 30)), "b.jpg")],
        headers=site.inside,
    )
    assert added.status_code == 201, added.text
    photos = added.json()
    assert [p["source"] for p in photos] == ["staff", "staff"]
    assert [(p["width"], p["height"]) for p in photos] == [(64, 32), (30, 30)]
    listed = site.client.get(f"/reports/{rid}/photos", headers=site.inside)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()][-2:] == [p["id"] for p in photos]
    got = site.client.get(photos[0]["url"], headers=site.inside)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"].startswith("private")
    assert got.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(got.content)) as image:
        assert image.size == (64, 32) and GPS_IFD not in image.getexif()
        assert len(image.getexif()) == 0
    with site.engine.connect() as conn:
        account = conn.execute(
            text("SELECT account_id FROM report_photos WHERE id = :id"), {"id": photos[0]["id"]}
        ).scalar_one()
        expected = conn.execute(
            text("SELECT id FROM users WHERE name = 'photo-dispatcher'")
        ).scalar_one()
    assert account == expected


def test_out_of_scope_is_404_and_anonymous_401(site: Site) -> None:
    rid = site.report_id
    added = site.client.post(
        f"/reports/{rid}/photos", files=[_part(jpeg_with_gps())], headers=site.inside
    )
    url = added.json()[0]["url"]
    for headers in (site.outside, site.worker_elsewhere):
        assert site.client.get(url, headers=headers).status_code == 404
        listed = site.client.get(f"/reports/{rid}/photos", headers=headers)
        assert listed.status_code == 404 and "among those your account reaches" in listed.text
    for path in (url, f"/reports/{rid}/photos"):
        anonymous = site.client.get(path)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    before = site.rows()
    refused = site.client.post(
        f"/reports/{rid}/photos", files=[_part(jpeg_with_gps())], headers=site.outside
    )
    assert refused.status_code == 403
    assert site.client.post(f"/reports/{rid}/photos", files=[_part(b"x")]).status_code == 401
    assert site.rows() == before
    # A photo of another report, or none: 404 in scope too.
    assert site.client.get(f"/reports/{rid}/photos/999999", headers=site.inside).status_code == 404


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"GIF89a" + b"\x00" * 40, "GIF"),
        (b"%PDF-1.4 fake", "PDF"),
        (jpeg_with_gps()[:300], "damaged or incomplete"),
        (b"\xff\xd8\xff" + b"\x00" * (MAX_PHOTO_BYTES + 10), "larger than 8 MB"),
    ],
    ids=["gif", "pdf", "truncated", "nine_megabytes"],
)
def test_refused_upload_names_the_photo_and_stores_nothing(
    site: Site, data: bytes, says: str
) -> None:
    before, files = site.rows(), site.files()
    refused = site.client.post(
        f"/reports/{site.report_id}/photos",
        files=[_part(jpeg_with_gps(), "fine.jpg"), _part(data, "evidence.jpg")],
        headers=site.inside,
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("evidence.jpg: ") and says in detail, detail
    assert site.rows() == before and site.files() == files


def test_more_photos_than_a_request_takes_is_422_as_documented(site: Site) -> None:
    """The document says how many parts a request takes (maxItems), and the API holds to it."""
    schema = site.client.get("/openapi.json").json()["components"]["schemas"]
    body = next(v for k, v in schema.items() if k.startswith("Body_add_photos_reports"))
    most = body["properties"]["photo"]["maxItems"]
    assert body["properties"]["photo"]["minItems"] == 1
    before, files = site.rows(), site.files()
    refused = site.client.post(
        f"/reports/{site.report_id}/photos",
        files=[_part(jpeg_with_gps(), f"p{i}.jpg") for i in range(most + 1)],
        headers=site.inside,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith("photo: ") and f"at most {most}" in refused.text
    assert site.rows() == before and site.files() == files


def test_a_body_beyond_the_route_limit_is_413(site: Site) -> None:
    huge = b"\xff\xd8\xff" + b"\x00" * (MAX_PHOTO_BYTES * 7)
    refused = site.client.post(
        f"/reports/{site.report_id}/photos", files=[_part(huge)], headers=site.inside
    )
    assert refused.status_code == 413
    # Elsewhere the general limit holds.
    assert site.client.post("/reports", content=b"x" * (5 * 1024 * 1024)).status_code == 413


def _send(site: Site, files: list[tuple[str, Any]], **fields: str) -> Any:
    site.client.cookies.clear()
    token = page_csrf_token(site.client, "/app/report")
    data = {
        "csrf_token": token,
        "lat": str(INLAND["lat"]),
        "lon": str(INLAND["lon"]),
        "category": "sanitation",
        "description": "bins with a photo",
    }
    return site.client.post("/app/report", data=data | fields, files=files, headers=HTML)


def test_resident_sends_photos_with_the_report(site: Site) -> None:
    before = site.rows()
    sent = _send(site, [_part(jpeg_with_gps(), "IMG_0001.JPG")])
    assert sent.status_code == 303, sent.text
    token = sent.headers["location"].split("/app/follow/")[1].split("?")[0]
    with site.engine.connect() as conn:
        report_id, source, sha = conn.execute(
            text("SELECT report_id, source, sha256 FROM report_photos ORDER BY id DESC LIMIT 1")
        ).one()
    assert site.rows() == (before[0] + 1, before[1] + 1)
    assert source == "resident"
    stored = next(p for p in site.files() if p.stem == sha)
    with Image.open(stored) as image:
        assert len(image.getexif()) == 0
    page = site.client.get(f"/app/follow/{token}", params={"lang": "en"}, headers=HTML)
    assert 'data-count="1"' in page.text and ">1, seen only by the staff in charge<" in page.text
    # The resident sees a count, never the picture.
    assert f"/reports/{report_id}/photos" not in page.text


def test_resident_photo_refused_nothing_stored(site: Site) -> None:
    before, files = site.rows(), site.files()
    sent = _send(site, [_part(jpeg_with_gps()), _part(b"<html>not a photo</html>", "fake.jpg")])
    assert sent.status_code == 400
    assert "fake.jpg" in sent.text and 'id="photo"' in sent.text
    assert "bins with a photo" in sent.text  # the form comes back filled in
    assert site.rows() == before and site.files() == files


def test_resident_form_without_photo_still_works(site: Site) -> None:
    before = site.rows()
    # A browser sends an empty file part when no photo was chosen.
    sent = _send(site, [("photo", ("", b"", "application/octet-stream"))])
    assert sent.status_code == 303, sent.text
    assert site.rows() == (before[0], before[1] + 1)
    # Multipart text is not checked by the request guard: the page refuses it itself.
    nul = _send(site, [("photo", ("", b"", "application/octet-stream"))], description="a\x00b")
    assert nul.status_code == 400, nul.text


def _add_from_the_link(site: Site, token: str, files: list[tuple[str, Any]], **form: str) -> Any:
    csrf = page_csrf_token(site.client, f"/app/follow/{token}?lang=en")
    return site.client.post(
        f"/app/follow/{token}/photos?lang=en",
        data={"csrf_token": csrf} | form,
        files=files,
        headers=HTML,
    )


def test_resident_adds_photos_from_the_follow_up_link_while_open(site: Site) -> None:
    sent = _send(site, [_part(jpeg_with_gps(), "first.jpg")])
    token = sent.headers["location"].split("/app/follow/")[1].split("?")[0]
    report_id = _report_of(site, token)
    later = [_part(jpeg_with_gps((48, 48)), "later.jpg"), _part(jpeg_with_gps((24, 80)), "b.jpg")]
    added = _add_from_the_link(site, token, later)
    assert added.status_code == 303, added.text
    assert "photos=2" in added.headers["location"]
    page = site.client.get(added.headers["location"], headers=HTML)
    assert "Thank you: 2 photos were added." in page.text and 'data-count="3"' in page.text
    with site.engine.connect() as conn:
        sources = conn.execute(
            text("SELECT source FROM report_photos WHERE report_id = :id"), {"id": report_id}
        ).scalars()
        assert list(sources) == ["resident"] * 3

    # Refused, each saying why, nothing stored: no photo, not a photo, a stale form, no link.
    before, files = site.rows(), site.files()
    empty = _add_from_the_link(site, token, [("photo", ("", b"", "application/octet-stream"))])
    assert empty.status_code == 400 and "Choose one or more photos" in empty.text
    fake = _add_from_the_link(site, token, [_part(b"%PDF-1.4 not a photo", "scan.jpg")])
    assert fake.status_code == 400 and "scan.jpg" in fake.text and "nothing was added" in fake.text
    forged = site.client.post(
        f"/app/follow/{token}/photos",
        data={"csrf_token": "forged"},
        files=later,
        headers=HTML,
    )
    assert forged.status_code == 403
    csrf = page_csrf_token(site.client, f"/app/follow/{token}?lang=en")
    lost = site.client.post(
        "/app/follow/not-a-token/photos?lang=en",
        data={"csrf_token": csrf},
        files=later,
        headers=HTML,
    )
    assert lost.status_code == 404 and "No report has this follow-up link" in lost.text
    assert site.rows() == before and site.files() == files

    # Solved or closed: photos of the problem come too late.
    with site.engine.begin() as conn:
        conn.execute(
            text("UPDATE reports SET status = 'resolved' WHERE id = :id"), {"id": report_id}
        )
    # (The form of the page as it was while open: the page no longer shows one.)
    late = site.client.post(
        f"/app/follow/{token}/photos?lang=en", data={"csrf_token": csrf}, files=later, headers=HTML
    )
    assert late.status_code == 409 and "while it is open" in late.text
    page = site.client.get(f"/app/follow/{token}?lang=en", headers=HTML)
    assert 'id="photo-form"' not in page.text
    assert site.rows() == before


def _report_of(site: Site, token: str) -> int:
    page = site.client.get(f"/app/follow/{token}?lang=en", headers=HTML)
    found = re.search(r"Report No\. (\d+)", page.text)
    assert found, page.text
    return int(found.group(1))
