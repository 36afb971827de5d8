"""Response models of OGC API - Features (Part 1: Core, GeoJSON)."""

from __future__ import annotations

from typing import Any, Literal

from geojson_pydantic import Feature, FeatureCollection
from geojson_pydantic.geometries import Geometry
from pydantic import BaseModel, Field


class Link(BaseModel):
    """A typed link (RFC 8288) as OGC API documents carry them."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    """``/ogc``: links to the API definition, the conformance classes and the collections."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes implemented."""

    conformsTo: list[str]  # noqa: N815 (the standard's name)


class SpatialExtent(BaseModel):
    """Bounding boxes in ``crs`` (CRS84: longitude, latitude)."""

    bbox: list[list[float]] = Field(min_length=1)
    crs: str


class TemporalExtent(BaseModel):
    """Time intervals (RFC 3339, ``null`` for an open end) in ``trs``."""

    interval: list[list[str | None]]
    trs: str


class Extent(BaseModel):
    """Where (and for reports, when) a collection's features lie."""

    spatial: SpatialExtent
    temporal: TemporalExtent | None = None


class Collection(BaseModel):
    """One feature collection's metadata."""

    id: str
    title: str
    description: str
    itemType: Literal["feature"]  # noqa: N815
    crs: list[str]
    links: list[Link]
    extent: Extent


class Collections(BaseModel):
    """Every feature collection."""

    links: list[Link]
    collections: list[Collection]


Item = Feature[Geometry, dict[str, Any]]


class ItemWithLinks(Item):
    """One feature with links to itself and its collection."""

    links: list[Link]


class Items(FeatureCollection[Item]):
    """A page of features: ``numberMatched`` in all, ``numberReturned`` here, ``next``/``prev``
    links while there are more."""

    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    timeStamp: str  # noqa: N815
    links: list[Link]
