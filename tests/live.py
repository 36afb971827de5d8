"""A real ``gridpatrol serve`` process for tests that need the whole server, its log included."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from sqlalchemy import Engine

from tests.conftest import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it: bind to port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(engine: Engine, **settings: str) -> dict[str, str]:
    """The environment of a server on ``engine``'s database: offline, the tests' signing key,
    anonymous limits off unless ``settings`` (``GRIDPATROL_*`` names) say otherwise."""
    return (
        dict(os.environ)
        | {
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "GRIDPATROL_TILE_URL": "",
            "GRIDPATROL_SECRET_KEY": TEST_SECRET_KEY,
            "GRIDPATROL_INTAKE_RATE_PER_MINUTE": "0",
            "GRIDPATROL_HEAVY_RATE_PER_MINUTE": "0",
            "GRIDPATROL_LOGIN_RATE_PER_MINUTE": "0",
        }
        | settings
    )


@contextmanager
def serve_process(env: dict[str, str], log: Path, *, timeout_s: float = 90) -> Iterator[str]:
    """Run ``python -m cli serve`` with stdout and stderr in ``log``; yield its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx2.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # A graceful shutdown waits for requests in flight (a long siting runs on in its
            # thread): the test is over, so do not wait for them, and leave no process behind.
            proc.kill()
            proc.wait(timeout=30)
