"""Map pages (HTML): Folium maps served with their assets from ``/static``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import ConnDep, SettingsDep
from api.routes.analytics import HotspotParams
from gis.hotspots import find_hotspots, report_heat_points
from maps.assets import render
from maps.hotspots import hotspot_map

router = APIRouter(tags=["maps"])


@router.get("/maps/hotspots", response_class=HTMLResponse)
def hotspots_map(conn: ConnDep, settings: SettingsDep, params: HotspotParams) -> HTMLResponse:
    """Hot and cold spots coloured by bin, with a heatmap of the reports (same options)."""
    result = find_hotspots(conn, **params)
    heat = report_heat_points(
        conn, categories=result.categories, since=result.since, until=result.until
    )
    fmap = hotspot_map(
        result,
        heat_points=heat,
        tile_url=settings.tile_url,
        attribution=settings.tile_attribution,
    )
    return HTMLResponse(render(fmap, mode="served"))
