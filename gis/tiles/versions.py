"""Layer versions: the ETag of a published layer, read from ``layer_versions``.

The trigger ``bump_layer_version`` (migration 0006) counts the writing statements on each
source table inside their transaction, so a version and the data it stands for become visible
together. A tile reads its version in the statement that makes it (one snapshot); other callers
read the version *before* the data: a change committed in between then costs one extra
download, never a stale response kept under a new ETag.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from gis.core.versions import ETAG_SQL
from gis.tiles.registry import PublishedLayer


def etag_params(layer: PublishedLayer, *, salt: str = "") -> dict[str, Any]:
    """Bind parameters of :data:`ETAG_SQL` for ``layer``; ``salt`` folds in what else shapes
    the response (the SQL text, a query string), so a new release or another request never
    reuses an ETag."""
    return {"etag_prefix": f"{layer.name}|{salt}|", "etag_sources": list(layer.sources)}


def layer_etag(conn: Connection, layer: PublishedLayer, *, salt: str = "") -> str:
    """A strong ETag (quoted) that changes whenever a source table of ``layer`` changes."""
    tag = conn.execute(text(f"SELECT {ETAG_SQL}"), etag_params(layer, salt=salt)).scalar_one()
    return f'"{tag}"'


def known_etags(if_none_match: str | None) -> list[str]:
    """The entity tags an ``If-None-Match`` header names, unquoted (weak ones too; ``*``)."""
    if not if_none_match:
        return []
    return [tag.strip().removeprefix("W/").strip('"') for tag in if_none_match.split(",")]


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or ``*``)."""
    known = known_etags(if_none_match)
    return "*" in known or etag.strip('"') in known
