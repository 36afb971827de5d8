"""Response and request models of the HTTP API, one module per resource.

``common`` holds what every resource shares (GeoJSON, paging, errors); the routes declare these
models so ``/openapi.json`` documents every answer and a public model cannot carry a field
the public may not see.
"""
