"""``GET /health``: the service and the database it runs on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import require
from api.deps import EngineDep
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.health import Health
from gis.access.policy import Permission
from gis.core.db import check_connection, server_versions

router = APIRouter(tags=["health"], responses=error_responses(*COMMON_ERRORS))


@router.get("/health", response_model=Health, dependencies=[require(Permission.READ_PUBLIC)])
def health(engine: EngineDep) -> Any:
    """Database reachable, with PostgreSQL, PostGIS and pgRouting versions."""
    check_connection(engine)
    return {"status": "ok", **server_versions(engine)}
