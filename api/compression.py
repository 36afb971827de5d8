"""Compressed scripts, stylesheets and tiles; pages and API answers as they are.

A phone on a slow network pays for every byte: Leaflet, VectorGrid and the grid tiles are
most of what the resident's page loads, and they shrink to a third with gzip. The pages
themselves are not compressed: each carries a CSRF token beside text a visitor can put into
the page (a form sent back with its values, a ``next`` address), which is what BREACH needs
to read a secret out of compressed sizes. API answers can carry a reporter's contact for an
account in scope, so they stay as they are too.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Smaller answers gain less than the header costs; level 6 is zlib's default speed/size trade.
MIN_BYTES = 500
LEVEL = 6


class CompressAssets:
    """gzip, for clients that accept it, the answers under ``prefixes`` only."""

    def __init__(self, app: ASGIApp, *, prefixes: Sequence[str]) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)
        self.gzip = GZipMiddleware(app, minimum_size=MIN_BYTES, compresslevel=LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
