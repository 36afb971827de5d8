"""Map pages (HTML), drawn by Folium with every asset served by gridpatrol itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse

from api.deps import BBoxDep, ConnDep, SettingsDep
from api.routes.analytics import HotspotParams
from api.schemas.tiles import ProblemFeatures
from gis.territory.map_data import DEFAULT_BUILDING_LIMIT
from maps.assets import render
from maps.pages import coverage_page, grid_problems, grids_page, hotspots_page
from maps.vector import TileSource

# Served pages load tiles and overlays from the server that served them.
SAME_ORIGIN = TileSource("")

router = APIRouter(tags=["maps"], default_response_class=HTMLResponse)


@router.get("/maps/grids")
def grids_map(
    conn: ConnDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    building_limit: Annotated[
        int,
        Query(ge=0, le=50_000, description="unused: buildings come as tiles (kept for links)"),
    ] = DEFAULT_BUILDING_LIMIT,
    problems: Annotated[bool, Query(description="highlight topology problems")] = True,
    reports: Annotated[bool, Query(description="show open reports")] = True,
) -> HTMLResponse:
    """Districts, communities, grids (code, buildings, residents), buildings coloured by grid
    and open reports as vector tiles; topology problems load after the map is drawn
    (``/maps/grids/problems``). ``bbox`` sets the view."""
    fmap = grids_page(
        conn,
        settings,
        bbox=bbox,
        building_limit=building_limit,
        problems=problems,
        reports=reports,
        tiles=SAME_ORIGIN,
        problems_url=SAME_ORIGIN.url("/maps/grids/problems"),
    )
    return HTMLResponse(render(fmap, mode="served"))


@router.get(
    "/maps/grids/problems",
    response_model=ProblemFeatures,
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def grids_map_problems(conn: ConnDep, settings: SettingsDep) -> Any:
    """The topology problems as the grids map draws them (GeoJSON, styled, with a summary)."""
    return JSONResponse(grid_problems(conn, settings), media_type="application/geo+json")


@router.get("/maps/coverage")
def coverage_map(conn: ConnDep, settings: SettingsDep) -> HTMLResponse:
    """District borders, communities and grids spanning districts by share, enclave parts."""
    return HTMLResponse(render(coverage_page(conn, settings, tiles=SAME_ORIGIN), mode="served"))


@router.get("/maps/hotspots")
def hotspots_map(conn: ConnDep, settings: SettingsDep, params: HotspotParams) -> HTMLResponse:
    """Hot and cold spots coloured by bin, with a heatmap of the reports (same options)."""
    fmap = hotspots_page(conn, settings, tiles=SAME_ORIGIN, **params)
    return HTMLResponse(render(fmap, mode="served"))
