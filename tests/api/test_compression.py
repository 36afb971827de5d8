"""What a phone downloads: scripts, stylesheets and tiles leave gzipped and the npm assets
are cached for a day; pages (CSRF token beside reflected text: BREACH) and API answers are
never compressed."""

from __future__ import annotations

import gzip

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import ASSET_CACHE, create_app
from maps.assets import local_path
from tests.conftest import settings_for

GZIP = {"Accept-Encoding": "gzip"}


def test_assets_and_tiles_are_gzipped_pages_and_api_answers_are_not(
    shared_demo_engine: Engine,
) -> None:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as client:
        script = client.get("/static/vendor/leaflet/dist/leaflet.js", headers=GZIP)
        assert script.status_code == 200
        assert script.headers["content-encoding"] == "gzip"
        assert script.headers["cache-control"] == ASSET_CACHE == "public, max-age=86400"
        original = local_path("vendor/leaflet/dist/leaflet.js").read_bytes()
        assert script.content == original  # httpx decoded it
        # What came over the wire: gzip's size of the file, under half of it.
        assert script.num_bytes_downloaded < len(original) / 2
        assert abs(script.num_bytes_downloaded - len(gzip.compress(original, 6))) < 2000
        # Without Accept-Encoding: as it is.
        plain = client.get(
            "/static/vendor/leaflet/dist/leaflet.js", headers={"Accept-Encoding": "identity"}
        )
        assert "content-encoding" not in plain.headers and plain.content == original
        own = client.get("/static/pages/report.js", headers=GZIP)
        assert own.headers["content-encoding"] == "gzip"
        # A tile of the city's centre, large enough to be worth it.
        tile = client.get("/tiles/grids/13/6463/3362.mvt", headers=GZIP)
        assert tile.status_code == 200 and tile.headers["content-encoding"] == "gzip"
        for path in ("/app/report", "/app/login", "/reports?limit=50", "/openapi.json"):
            answer = client.get(path, headers=GZIP)
            assert answer.status_code == 200, path
            assert len(answer.content) > 500, path
            assert "content-encoding" not in answer.headers, path
