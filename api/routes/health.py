"""``GET /health``: the service and the database it runs on."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from api.auth import require
from api.deps import EngineDep
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.health import Health
from gis.access.policy import Permission
from gis.core.db import check_connection, server_versions
from gis.core.errors import DatabaseUnavailable

logger = logging.getLogger("gridpatrol.api")

router = APIRouter(tags=["health"], responses=error_responses(*COMMON_ERRORS))


@router.get("/health", response_model=Health, dependencies=[require(Permission.READ_PUBLIC)])
def health(engine: EngineDep) -> Any:
    """Database reachable, with PostgreSQL, PostGIS and pgRouting versions; 503 with
    Retry-After when it is not."""
    try:
        check_connection(engine)
    except DatabaseUnavailable as exc:
        # The driver's message names the user, host and port: for the log, not the client.
        logger.error("health: %s", exc.detail)
        raise DatabaseUnavailable("the database is unavailable; try again shortly") from None
    return {"status": "ok", **server_versions(engine)}
