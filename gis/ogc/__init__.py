"""OGC API - Features (Part 1: Core, GeoJSON) over the published layers of ``gis.tiles``."""
