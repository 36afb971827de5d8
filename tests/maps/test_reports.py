"""The open-reports layer renders clustered, status-coloured markers with overdue ones marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import folium
from sqlalchemy import Engine

from gis.reports.intake import ReportInput, submit_report
from gis.reports.lifecycle import transition_report
from gis.reports.listing import open_reports_geojson
from maps.reports import OVERDUE_COLOUR, STATUS_COLOURS, add_open_reports_layer
from tests.conftest import CATEGORIES


def test_layer_renders_open_reports(city_engine: Engine) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=2)
    with city_engine.begin() as conn:
        late = submit_report(
            conn,
            ReportInput(lat=30.66, lon=104.06, category="parking", description="late"),
            reported_at=long_ago,
            categories=CATEGORIES,
        ).report
        fresh = submit_report(
            conn,
            ReportInput(lat=30.655, lon=104.05, category="elderly_care", description="new"),
            categories=CATEGORIES,
        ).report
        accepted = transition_report(conn, fresh["id"], action="accept", actor="d")
        closed = submit_report(
            conn,
            ReportInput(lat=30.665, lon=104.07, category="sanitation", description="x"),
            categories=CATEGORIES,
        ).report
        transition_report(conn, closed["id"], action="reject", actor="d", note="not ours")
        features = open_reports_geojson(conn)
    assert {f["id"] for f in features["features"]} == {late["id"], fresh["id"]}
    overdue = {f["id"]: f["properties"]["overdue"] for f in features["features"]}
    assert overdue == {late["id"]: True, fresh["id"]: False}

    fmap = folium.Map(location=(30.66, 104.06), zoom_start=14, tiles=None)
    add_open_reports_layer(fmap, features)
    html = fmap.get_root().render()
    assert "L.markerClusterGroup" in html
    assert html.count("L.circleMarker(") == 2
    assert "report-overdue" in html and html.count("report-overdue") == 1
    assert OVERDUE_COLOUR in html
    assert STATUS_COLOURS[accepted["status"]] in html
    assert STATUS_COLOURS["reported"] in html
    assert "13800000000" not in html
    assert "L.AwesomeMarkers.icon" not in html  # no icon fonts needed offline
