"""A report's photo as the API lists it (its bytes are served by their own route)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Timestamp


class Photo(BaseModel):
    """A stored photo: re-encoded without metadata (no EXIF, no GPS), JPEG or PNG."""

    id: int
    report_id: int
    content_type: Literal["image/jpeg", "image/png"]
    bytes: int = Field(description="size of the stored file")
    width: int = Field(description="pixels, upright")
    height: int = Field(description="pixels, upright")
    source: Literal["resident", "worker", "staff"] = Field(description="who attached it")
    event_id: int | None = Field(description="the report's event it belongs to (a resolve)")
    created_at: Timestamp
    url: str = Field(description="where its bytes are served (same scope rule)")
