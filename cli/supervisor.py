"""``gridpatrol serve`` watches the embedded cluster and restarts it when it dies.

Before, a postmaster killed (OOM killer, ``kill -9``, a crash) left the API answering 503 until
someone ran ``gridpatrol db up``. A thread of the serve process now checks the postmaster every
``check_every_s`` (a read of ``postmaster.pid`` and ``/proc``, no subprocess) and, when it is
gone, starts the cluster again on the same port, so every connection pool holding the URL finds
it back; attempts that fail wait 1, 2, 4 … up to ``max_backoff_s`` seconds. Every event goes to
the ``gridpatrol.database`` logger (serve's log). With ``DATABASE_URL`` there is nothing to
supervise: that server is its operator's (systemd, a managed service).
"""

from __future__ import annotations

import logging
import threading
import time

from cli.cluster import EmbeddedCluster
from gis.core.errors import DatabaseUnavailable

logger = logging.getLogger("gridpatrol.database")


class ClusterSupervisor:
    """Restart ``cluster`` with exponential backoff whenever its postmaster is not alive."""

    def __init__(
        self,
        cluster: EmbeddedCluster,
        *,
        check_every_s: float = 1.0,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        reap_wait_s: float = 10.0,
    ) -> None:
        self.cluster = cluster
        self.check_every_s = check_every_s
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.reap_wait_s = reap_wait_s
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="gridpatrol-db-supervisor", daemon=True
        )

    def start(self) -> None:
        """Begin watching (in a daemon thread)."""
        logger.info(
            "watching the embedded database in %s (port %s)", self.cluster.home, self.cluster.port
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop watching; the cluster itself keeps running (``gridpatrol db down`` stops it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every_s):
            if not self.cluster.postmaster_alive():
                self._restart()

    def _restart(self) -> None:
        """Start the cluster again, backing off between failed attempts, until it runs."""
        logger.warning(
            "the embedded database in %s is not running (its postmaster died); restarting it",
            self.cluster.home,
        )
        down_since = time.monotonic()
        # A killed postmaster stays a zombie until its parent (init) reaps it, and PostgreSQL
        # refuses to start while its pid is taken: a start before that only costs a backoff.
        reaped_by = down_since + self.reap_wait_s
        while not self.cluster.postmaster_exited() and time.monotonic() < reaped_by:
            if self._stop.wait(0.1):
                return
        delay = self.first_backoff_s
        attempt = 1
        while not self._stop.is_set():
            try:
                # Same port: the engines and worker processes hold the URL.
                self.cluster.start(keep_port=True)
            except (DatabaseUnavailable, OSError) as exc:
                logger.error(
                    "restarting the embedded database failed (attempt %d): %s; next attempt in "
                    "%g s",
                    attempt,
                    exc,
                    delay,
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self.max_backoff_s)
                attempt += 1
                continue
            self.restarts += 1
            logger.warning(
                "the embedded database is back on port %s after %.1f s (%d attempt(s))",
                self.cluster.port,
                time.monotonic() - down_since,
                attempt,
            )
            return
