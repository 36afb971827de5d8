"""Publishing the stored layers to GIS clients: the layer registry, vector tiles (MVT) with
TileJSON, and the layer versions behind their ETags. OGC API Features (``gis.ogc``) serves the
same registry."""
