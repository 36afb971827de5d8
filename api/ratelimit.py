"""Per-client token buckets: anonymous report intake and sign-in attempts.

Each client address has a bucket of ``burst`` tokens refilled at ``rate_per_minute``; a
request takes one or is refused with 429 and ``Retry-After`` (seconds until a token is back).
Buckets live in the server process: with ``serve --workers N`` a client gets N times the rate,
and behind a reverse proxy the proxy must pass the client address (uvicorn
``--forwarded-allow-ips``) or every resident shares the proxy's bucket.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.auth import PrincipalDep
from gis.core.errors import RateLimited

# Past this many tracked clients, full buckets (clients idle long enough) are forgotten.
MAX_TRACKED_CLIENTS = 100_000


class TokenBucketLimiter:
    """Token buckets keyed by client; thread-safe (sync handlers run in a thread pool)."""

    def __init__(
        self,
        *,
        rate_per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        self.rate_per_s = rate_per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate_per_s)

    def take(self, key: str) -> int:
        """Take a token for ``key``: 0 when granted, else the seconds to wait (≥ 1)."""
        if not self.enabled:
            return 0
        with self._lock:
            now = self.clock()
            tokens = self._level(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self.max_clients:
                    self._forget_full(now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate_per_s))

    def _forget_full(self, now: float) -> None:
        full = [k for k in self._buckets if self._level(k, now) >= self.burst]
        for key in full:
            del self._buckets[key]


def client_key(request: Request) -> str:
    """The client's address (as uvicorn reports it, proxy headers applied if trusted)."""
    return request.client.host if request.client else "unknown"


def _limit(limiter: TokenBucketLimiter, request: Request, what: str) -> None:
    wait_s = limiter.take(client_key(request))
    if wait_s:
        raise RateLimited(
            f"too many {what} from this address; retry in {wait_s} s", retry_after_s=wait_s
        )


def limit_anonymous_intake(request: Request, principal: PrincipalDep) -> None:
    """Refuse (429) anonymous intake past the per-client rate; accounts are not limited."""
    if principal.is_anonymous:
        _limit(request.app.state.intake_limiter, request, "reports")


def limit_sign_in(request: Request) -> None:
    """Refuse (429) sign-in attempts past the per-client rate (password guessing)."""
    _limit(request.app.state.login_limiter, request, "sign-in attempts")


IntakeLimit = Annotated[None, Depends(limit_anonymous_intake)]
SignInLimit = Annotated[None, Depends(limit_sign_in)]
