"""The embedded cluster: created, reused, stopped; clear words when PostGIS is missing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from gis.core.cluster import check_extensions_installed, find_bindir
from gis.core.errors import DatabaseUnavailable

runner = CliRunner()


@pytest.fixture
def home() -> Iterator[Path]:
    # World-traversable: the server runs as postgres when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="gridpatrol-cluster-test-"))
    path.chmod(0o755)
    yield path / "state"
    runner.invoke(app, ["db", "down"], env={"GRIDPATROL_HOME": str(path / "state")})
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_db_up_status_url_down(home: Path) -> None:
    env = {"GRIDPATROL_HOME": str(home), "DATABASE_URL": ""}
    up = runner.invoke(app, ["db", "up"], env=env)
    assert up.exit_code == 0, up.output
    url = up.stdout.strip()
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    status = runner.invoke(app, ["db", "status", "--json"], env=env)
    assert status.exit_code == 0
    assert '"running": true' in status.stdout
    assert runner.invoke(app, ["db", "url"], env=env).stdout.strip() == url
    # A second `up` reuses the same cluster and port.
    assert runner.invoke(app, ["db", "up"], env=env).stdout.strip() == url
    assert runner.invoke(app, ["db", "down"], env=env).exit_code == 0
    stopped = runner.invoke(app, ["db", "status", "--json"], env=env)
    assert stopped.exit_code == 1
    assert '"running": false' in stopped.stdout


def test_missing_postgis_names_the_package_to_install(tmp_path: Path) -> None:
    (tmp_path / "extension").mkdir()
    with pytest.raises(DatabaseUnavailable, match="apt-get install .*postgresql-15-postgis-3"):
        check_extensions_installed(find_bindir(), sharedir=tmp_path)
