"""Pydantic models of the API's responses (and requests), one module per resource."""
