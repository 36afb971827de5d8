"""Typed API responses (pydantic models), one module per resource."""
