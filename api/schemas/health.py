"""``GET /health``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Health(BaseModel):
    """The service is up and its database answers, with the versions it runs."""

    status: Literal["ok"]
    postgresql: str
    postgis: str
    pgrouting: str = "not installed"
