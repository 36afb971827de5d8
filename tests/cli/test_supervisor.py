"""``gridpatrol serve`` supervises the embedded cluster: a postmaster killed with SIGKILL is
restarted by itself, on the same port, and the API answers again without anyone's help."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import text

from cli.cluster import EmbeddedCluster
from cli.supervisor import ClusterSupervisor
from data import DEMO_DIR
from gis.core.db import make_engine, migrate
from gis.territory.importing import import_file
from tests.conftest import TEST_SECRET_KEY
from tests.live import serve_process

# The API must be back within this many seconds of the kill (it takes about two).
RECOVERY_BOUND_S = 30.0


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """A cluster of its own (the suite's is not to be killed), migrated, with districts in it
    so that `serve` does not load the whole demo city."""
    # World-traversable parent: the server runs as postgres when the tests run as root.
    base = Path(tempfile.mkdtemp(prefix="gridpatrol-supervised-"))
    base.chmod(0o755)
    cluster = EmbeddedCluster(base / "state", durable=False)
    engine = make_engine(cluster.start(), pool_size=1)
    try:
        migrate(engine)
        with engine.begin() as conn:
            import_file(conn, DEMO_DIR / "districts.geojson", layer="districts")
    finally:
        engine.dispose()
    try:
        yield cluster.home
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


def _serve_env(home: Path) -> dict[str, str]:
    """No DATABASE_URL (the tests' own, in CI): serve runs the embedded cluster in ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GRIDPATROL_HOME")}
    return env | {
        "GRIDPATROL_HOME": str(home),
        "GRIDPATROL_TILE_URL": "",
        "GRIDPATROL_SECRET_KEY": TEST_SECRET_KEY,
        "GRIDPATROL_INTAKE_RATE_PER_MINUTE": "0",
        "GRIDPATROL_LOGIN_RATE_PER_MINUTE": "0",
    }


@pytest.mark.slow
def test_a_killed_postmaster_is_restarted_and_the_api_recovers(home: Path, tmp_path: Path) -> None:
    cluster = EmbeddedCluster(home)
    log = tmp_path / "serve.log"
    with serve_process(_serve_env(home), log) as base:
        first = httpx2.get(f"{base}/districts", timeout=10)
        assert first.status_code == 200 and first.json()["numberMatched"] == 3
        port = cluster.port
        killed = cluster.postmaster_pid()
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        statuses: list[int] = []
        while True:
            elapsed = time.monotonic() - killed_at
            assert elapsed < RECOVERY_BOUND_S, (statuses[-5:], log.read_text()[-3000:])
            try:
                answer = httpx2.get(f"{base}/districts", timeout=5)
                statuses.append(answer.status_code)
            except httpx2.TransportError:
                statuses.append(0)
                continue
            restarted = cluster.postmaster_pid() not in (None, killed)
            if restarted and cluster.postmaster_alive() and answer.status_code == 200:
                break
            time.sleep(0.1)
        recovered_s = time.monotonic() - killed_at
        assert answer.json()["numberMatched"] == 3
        # While it was down the API said so (503), never a 500.
        assert set(statuses) <= {200, 503}, statuses
        # Same port: the running server's connection pools found the database again.
        assert cluster.port == port
        assert httpx2.get(f"{base}/health", timeout=10).status_code == 200
    written = log.read_text()
    assert "is not running (its postmaster died); restarting it" in written
    back = re.search(r"the embedded database is back on port (\d+) after ([\d.]+) s", written)
    assert back is not None and int(back.group(1)) == port, written[-3000:]
    print(f"API answered again {recovered_s:.1f} s after the kill (restart {back.group(2)} s)")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _wait_for(condition: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_failed_restarts_back_off_and_the_port_is_kept(home: Path) -> None:
    cluster = EmbeddedCluster(home)
    cluster.start()
    port = cluster.port
    assert port is not None
    cluster.stop()
    records = _Records()
    logger = logging.getLogger("gridpatrol.database")
    level = logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    supervisor = ClusterSupervisor(
        cluster, check_every_s=0.1, first_backoff_s=0.2, max_backoff_s=0.8
    )
    # Another process holds the cluster's port: restarting elsewhere would strand every
    # client holding the URL, so the supervisor waits, backing off, until the port is free.
    squatter = socket.socket()
    try:
        # The stopped server's connections may linger in TIME_WAIT on the port.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        supervisor.start()
        _wait_for(lambda: len([m for m in records.messages if "failed" in m]) >= 4, timeout_s=20)
        failed = [m for m in records.messages if "failed" in m]
        assert all(f"port {port} is taken" in m for m in failed), failed
        delays = [float(re.findall(r"next attempt in ([\d.]+) s", m)[0]) for m in failed[:4]]
        assert delays == [0.2, 0.4, 0.8, 0.8]
        assert not cluster.postmaster_alive()
    finally:
        squatter.close()
    try:
        _wait_for(cluster.postmaster_alive, timeout_s=30)
        _wait_for(lambda: any("is back on port" in m for m in records.messages), timeout_s=30)
        assert cluster.port == port and supervisor.restarts == 1
        engine = make_engine(cluster.url, pool_size=1)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM districts")).scalar_one() == 3
        finally:
            engine.dispose()
    finally:
        supervisor.stop()
        logger.removeHandler(records)
        logger.setLevel(level)
    # Stopping the supervisor leaves the cluster running.
    assert cluster.postmaster_alive()
