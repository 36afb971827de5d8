"""Layer versions: the ETag of a published layer, read from ``layer_versions``.

The trigger ``bump_layer_version`` (migration 0006) counts the writing statements on each
source table inside their transaction, so a version and the data it stands for become visible
together. A tile reads its version in the statement that makes it (one snapshot); other callers
read the version *before* the data: a change committed in between then costs one extra
download, never a stale response kept under a new ETag.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from threading import Lock
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, text

from gis.tiles.registry import PublishedLayer

# The ETag of a layer: md5 of a prefix (layer name, SQL digest, query) and the versions of
# its sources; ``changed_at`` keeps a database rebuilt from scratch (versions back at 1) from
# matching ETags of its predecessor. A scalar expression, so a tile can fold it into its own
# statement (one round trip).
ETAG_SQL = """(SELECT left(md5(:etag_prefix || COALESCE(string_agg(
        source || '=' || version || '@' || extract(epoch FROM changed_at), ';' ORDER BY source
    ), '')), 20)
    FROM layer_versions WHERE source = ANY(:etag_sources))"""


def etag_params(layer: PublishedLayer, *, salt: str = "") -> dict[str, Any]:
    """Bind parameters of :data:`ETAG_SQL` for ``layer``; ``salt`` folds in what else shapes
    the response (the SQL text, a query string), so a new release or another request never
    reuses an ETag."""
    return {"etag_prefix": f"{layer.name}|{salt}|", "etag_sources": list(layer.sources)}


def layer_etag(conn: Connection, layer: PublishedLayer, *, salt: str = "") -> str:
    """A strong ETag (quoted) that changes whenever a source table of ``layer`` changes."""
    tag = conn.execute(text(f"SELECT {ETAG_SQL}"), etag_params(layer, salt=salt)).scalar_one()
    return f'"{tag}"'


def sources_token(conn: Connection, sources: tuple[str, ...]) -> str:
    """A token that changes whenever one of the ``sources`` tables changes (a cache key)."""
    token: str = conn.execute(
        text(f"SELECT {ETAG_SQL}"), {"etag_prefix": "", "etag_sources": list(sources)}
    ).scalar_one()
    return token


T = TypeVar("T")


class VersionedCache(Generic[T]):
    """Values computed from tables, kept per database and key until one of those tables
    changes (the token is read before computing, so a change in between costs a recompute,
    never a stale value). ``max_entries`` bounds caches whose keys are endless (bbox filters):
    past it the cache starts empty again."""

    def __init__(self, *, max_entries: int | None = None) -> None:
        self._entries: dict[tuple[str, Hashable], tuple[str, T]] = {}
        self._lock = Lock()
        self._max_entries = max_entries

    def peek(self, conn: Connection, *, sources: tuple[str, ...], key: Hashable) -> T | None:
        """The value for ``key`` if cached and none of its sources changed since; else None."""
        token = sources_token(conn, sources)
        with self._lock:
            cached = self._entries.get((conn.engine.url.render_as_string(hide_password=True), key))
        return cached[1] if cached is not None and cached[0] == token else None

    def get(
        self,
        conn: Connection,
        *,
        sources: tuple[str, ...],
        key: Hashable,
        compute: Callable[[], T],
    ) -> T:
        """The value for ``key`` on ``conn``'s database, computed anew when a source changed."""
        token = sources_token(conn, sources)
        full_key = (conn.engine.url.render_as_string(hide_password=True), key)
        with self._lock:
            cached = self._entries.get(full_key)
        if cached is not None and cached[0] == token:
            return cached[1]
        value = compute()
        with self._lock:
            if self._max_entries is not None and len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[full_key] = (token, value)
        return value


def known_etags(if_none_match: str | None) -> list[str]:
    """The entity tags an ``If-None-Match`` header names, unquoted (weak ones too; ``*``)."""
    if not if_none_match:
        return []
    return [tag.strip().removeprefix("W/").strip('"') for tag in if_none_match.split(",")]


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or ``*``)."""
    known = known_etags(if_none_match)
    return "*" in known or etag.strip('"') in known
