"""Data versions: a token that changes whenever a source table changes, and a cache keyed by it.

The trigger ``bump_layer_version`` (migration 0006) counts the writing statements on each
source table inside their transaction, in ``layer_versions``. Tiles build their ETags on it
(``gis.tiles.versions``); analyses cache their results on it. A leaf of the domain: anything
may import it without a cycle through the tile registry.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from threading import Lock
from typing import Generic, TypeVar

from sqlalchemy import Connection, text

# The ETag of a layer: md5 of a prefix (layer name, SQL digest, query) and the versions of
# its sources; ``changed_at`` keeps a database rebuilt from scratch (versions back at 1) from
# matching ETags of its predecessor. A scalar expression, so a tile can fold it into its own
# statement (one round trip).
ETAG_SQL = """(SELECT left(md5(:etag_prefix || COALESCE(string_agg(
        source || '=' || version || '@' || extract(epoch FROM changed_at), ';' ORDER BY source
    ), '')), 20)
    FROM layer_versions WHERE source = ANY(:etag_sources))"""


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
