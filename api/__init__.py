"""gridpatrol HTTP API (FastAPI): thin handlers over the ``gis`` domain."""
