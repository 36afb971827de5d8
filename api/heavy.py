"""Heavy requests: computations of seconds of CPU (hotspots, maps that compute, patrol plans).

One mechanism bounds them all, per server process:

- ``HeavyPool``: at most ``GRIDPATROL_HEAVY_SLOTS`` computations at once; a request finding
  every slot taken waits up to ``GRIDPATROL_HEAVY_WAIT_S``, then gets 503 with ``Retry-After``
  (``GRIDPATROL_HEAVY_RETRY_AFTER_S``). The other endpoints keep the rest of the machine.
- ``HeavyLimit``: anonymous heavy GETs per client address, a token bucket
  (``GRIDPATROL_HEAVY_RATE_PER_MINUTE`` after a burst of ``GRIDPATROL_HEAVY_BURST``) → 429.
- Results are cached by their parameters and the data version (``gis.analysis.hotspots``):
  a repeated request is answered from the cache without taking a slot.

With ``serve --workers N`` each process has its own slots and buckets.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from api.auth import PrincipalDep
from api.ratelimit import TokenBucketLimiter, _limit
from gis.core.errors import Busy
from gis.core.settings import Settings


class HeavyPool:
    """At most ``slots`` heavy computations at once (thread-safe: sync handlers run in a
    thread pool); ``slot()`` waits up to ``wait_s`` for one, else raises ``Busy`` (503)."""

    def __init__(self, *, slots: int, wait_s: float, retry_after_s: int) -> None:
        self.slots = slots
        self.wait_s = wait_s
        self.retry_after_s = retry_after_s
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._running = 0
        self._processes: ProcessPoolExecutor | None = None

    def processes(self) -> ProcessPoolExecutor:
        """Worker processes for computations that would hold the GIL (one per slot, started
        on first use): the server's own threads keep answering meanwhile."""
        with self._lock:
            if self._processes is None:
                self._processes = ProcessPoolExecutor(
                    max_workers=self.slots, mp_context=multiprocessing.get_context("spawn")
                )
            return self._processes

    def close(self) -> None:
        """Stop the worker processes (at shutdown)."""
        with self._lock:
            processes, self._processes = self._processes, None
        if processes is not None:
            processes.shutdown(wait=False, cancel_futures=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> HeavyPool:
        return cls(
            slots=settings.heavy_slots,
            wait_s=settings.heavy_wait_s,
            retry_after_s=settings.heavy_retry_after_s,
        )

    @property
    def running(self) -> int:
        """Computations holding a slot now."""
        return self._running

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold a slot while computing ``what`` (named in the 503 when none is free)."""
        if not self._free.acquire(timeout=self.wait_s):
            raise Busy(
                f"the server is computing {self.slots} heavy request(s) already (hotspots, "
                f"maps, patrol plans); {what} must wait: retry in {self.retry_after_s} s",
                retry_after_s=self.retry_after_s,
            )
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
            self._free.release()


def get_heavy_pool(request: Request) -> HeavyPool:
    pool: HeavyPool = request.app.state.heavy_pool
    return pool


HeavyPoolDep = Annotated[HeavyPool, Depends(get_heavy_pool)]


def limit_anonymous_heavy(request: Request, principal: PrincipalDep) -> None:
    """Refuse (429) anonymous heavy requests past the per-client rate; accounts are not
    limited by rate (the pool still bounds them)."""
    if principal.is_anonymous:
        limiter: TokenBucketLimiter = request.app.state.heavy_limiter
        _limit(limiter, request, "heavy requests (hotspots, computed maps)")


HeavyLimit = Annotated[None, Depends(limit_anonymous_heavy)]
