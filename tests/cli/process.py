"""The real ``gridpatrol`` command as a subprocess on a test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[2]


def run_gridpatrol(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m cli ARGS`` with ``DATABASE_URL`` pointing at ``engine``'s database."""
    env = os.environ | {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
