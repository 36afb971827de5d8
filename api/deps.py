"""Request dependencies: the database connection and query parsing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Connection, Engine

from gis.core.settings import Settings
from gis.reports.categories import Category
from gis.territory.layers import BBox, parse_bbox


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_categories_dep(request: Request) -> dict[str, Category]:
    categories: dict[str, Category] = request.app.state.categories
    return categories


def get_conn(request: Request) -> Iterator[Connection]:
    """A connection for reading; writers open ``engine.begin()`` themselves."""
    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        yield conn


def bbox_query(
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy in EPSG:4326", examples=["104.05,30.65,104.07,30.67"]
        ),
    ] = None,
) -> BBox | None:
    """Parse ``bbox``; raises ``InvalidBBox`` (422) naming the problem."""
    return parse_bbox(bbox)


EngineDep = Annotated[Engine, Depends(get_engine)]
ConnDep = Annotated[Connection, Depends(get_conn)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
BBoxDep = Annotated[BBox | None, Depends(bbox_query)]
CategoriesDep = Annotated[dict[str, Category], Depends(get_categories_dep)]
