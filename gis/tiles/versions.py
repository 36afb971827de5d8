"""Layer versions: the ETag of a published layer, read from ``layer_versions``.

The trigger ``bump_layer_version`` (migration 0006) counts the writing statements on each
source table inside their transaction, so a version and the data it stands for become visible
together. Callers read the version *before* the data: a change committed in between then costs
one extra download, never a stale tile kept under a new ETag.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection, text

from gis.tiles.registry import PublishedLayer


def source_versions(conn: Connection, sources: tuple[str, ...]) -> dict[str, tuple[int, datetime]]:
    """Version and last change of each source table (absent until the migration ran)."""
    rows = conn.execute(
        text("SELECT source, version, changed_at FROM layer_versions WHERE source = ANY(:s)"),
        {"s": list(sources)},
    ).all()
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def layer_etag(conn: Connection, layer: PublishedLayer, *, salt: str = "") -> str:
    """A strong ETag (quoted) that changes whenever a source table of ``layer`` changes.

    ``salt`` folds in what else shapes the response (the SQL text, a query string), so a new
    release or another request never reuses an ETag. ``changed_at`` keeps a database rebuilt
    from scratch (versions back at 1) from matching ETags of its predecessor.
    """
    versions = source_versions(conn, layer.sources)
    token = ";".join(
        f"{source}={versions[source][0]}@{versions[source][1].timestamp():.6f}"
        if source in versions
        else f"{source}=?"
        for source in sorted(layer.sources)
    )
    digest = hashlib.blake2s(f"{layer.name}|{token}|{salt}".encode(), digest_size=10)
    return f'"{digest.hexdigest()}"'


def last_changed(conn: Connection, layer: PublishedLayer) -> datetime | None:
    """When a source table of ``layer`` last changed (``None`` before any bump)."""
    versions = source_versions(conn, layer.sources)
    return max((changed for _, changed in versions.values()), default=None)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or ``*``); weak tags compare too."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False
