"""Response models of the vector tile endpoints (TileJSON 3.0.0) and the map overlays served
beside the tiles."""

from __future__ import annotations

from typing import Literal

from geojson_pydantic import Feature
from geojson_pydantic.geometries import Geometry
from pydantic import BaseModel, Field


class VectorLayer(BaseModel):
    """One layer inside the tiles, with its attribute names and types."""

    id: str
    description: str = ""
    minzoom: int
    maxzoom: int
    fields: dict[str, Literal["String", "Number", "Boolean"]]


class TileJSON(BaseModel):
    """TileJSON 3.0.0 of one tile layer."""

    tilejson: Literal["3.0.0"] = "3.0.0"
    name: str
    description: str
    version: str
    scheme: Literal["xyz"] = "xyz"
    tiles: list[str] = Field(description="URL templates of the tiles, {z}/{x}/{y}")
    minzoom: int = Field(ge=0, le=30)
    maxzoom: int = Field(ge=0, le=30)
    bounds: tuple[float, float, float, float] = Field(
        description="west, south, east, north in EPSG:4326 degrees"
    )
    center: tuple[float, float, int]
    vector_layers: list[VectorLayer]


class TileLayerEntry(BaseModel):
    """A tile layer in the index: its name, title and TileJSON URL."""

    name: str
    title: str
    tilejson: str
    tiles: str


class TileIndex(BaseModel):
    """Every tile layer gridpatrol serves."""

    layers: list[TileLayerEntry]


class ProblemProperties(BaseModel):
    """A topology finding as the grids map draws it: its label and its Leaflet style."""

    label: str
    style: dict[str, str | float | bool]


class ProblemFeatures(BaseModel):
    """The grids map's problem overlay, fetched after the tiles are drawn."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature[Geometry, ProblemProperties]]
    summary: str
