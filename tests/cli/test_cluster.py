"""The embedded cluster: created, reused, stopped, password-only; clear words when PostGIS is
missing; an old trust cluster moved to a password; no chown through a symlink."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cli.cluster import (
    EmbeddedCluster,
    check_extensions_installed,
    find_bindir,
    give_to_server_user,
)
from cli.main import app
from gis.core.errors import DatabaseUnavailable

runner = CliRunner()


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    # World-traversable parent: the server runs as postgres when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="gridpatrol-cluster-test-"))
    path.chmod(0o755)
    yield path / "state"
    runner.invoke(app, ["db", "down"], env={"GRIDPATROL_HOME": str(path / "state")})
    shutil.rmtree(path, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    return {"GRIDPATROL_HOME": str(home), "DATABASE_URL": ""}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _connect(port: int, password: str | None) -> psycopg.Connection:
    # passfile=/dev/null: a ~/.pgpass on the test machine must not supply a password.
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="postgres",
        dbname="postgres",
        password=password,
        passfile="/dev/null",
        connect_timeout=5,
    )


@pytest.mark.slow
def test_db_up_status_url_down(home: Path) -> None:
    env = _env(home)
    up = runner.invoke(app, ["db", "up"], env=env)
    assert up.exit_code == 0, up.output
    cluster = EmbeddedCluster(home)
    password = cluster.password
    masked = up.stdout.strip()
    # `db up` and `db status` never print the password; `db url` does, on request.
    assert masked == f"postgresql+psycopg://postgres:***@127.0.0.1:{cluster.port}/gridpatrol"
    assert password not in up.output
    status = runner.invoke(app, ["db", "status", "--json"], env=env)
    assert status.exit_code == 0
    assert '"running": true' in status.stdout
    assert password not in status.output
    url = runner.invoke(app, ["db", "url"], env=env).stdout.strip()
    assert url == masked.replace("***", password)
    with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    # A second `up` reuses the same cluster, port and password.
    assert runner.invoke(app, ["db", "up"], env=env).stdout.strip() == masked
    assert cluster.password == password


@pytest.mark.slow
def test_password_less_and_wrong_password_connections_are_refused(home: Path) -> None:
    assert runner.invoke(app, ["db", "up"], env=_env(home)).exit_code == 0
    cluster = EmbeddedCluster(home)
    assert cluster.port is not None
    for password in (None, "", "wrong-password"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            _connect(cluster.port, password)
    with _connect(cluster.port, cluster.password) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        # Nothing but SCRAM logins over loopback, as the server itself reads its rules.
        rules = conn.execute(
            "SELECT type, address, auth_method FROM pg_hba_file_rules ORDER BY line_number"
        ).fetchall()
    assert {method for _, _, method in rules} == {"scram-sha-256"}
    assert {(kind, address) for kind, address, _ in rules} == {
        ("host", "127.0.0.1"),
        ("host", "::1"),
    }


@pytest.mark.slow
def test_home_state_and_password_are_private(home: Path) -> None:
    assert runner.invoke(app, ["db", "up"], env=_env(home)).exit_code == 0
    cluster = EmbeddedCluster(home)
    for private in (cluster.state_file, cluster.password_file):
        assert _mode(private) == 0o600, private
        assert private.stat().st_uid == os.geteuid()
    # No one but us gets in; as root the server user's group may only pass through to its
    # data directory (0710 root:postgres), as the README says.
    if os.geteuid() == 0:
        assert _mode(home) == 0o710
        assert (home.stat().st_uid, home.stat().st_gid) == (0, pwd.getpwnam("postgres").pw_gid)
    else:
        assert _mode(home) == 0o700
    assert _mode(cluster.pgdata) == 0o700


@pytest.mark.slow
def test_old_trust_cluster_gets_a_password_on_db_up(home: Path) -> None:
    env = _env(home)
    assert runner.invoke(app, ["db", "up"], env=env).exit_code == 0
    cluster = EmbeddedCluster(home)
    old_password = cluster.password
    assert runner.invoke(app, ["db", "down"], env=env).exit_code == 0
    # What gridpatrol made before: initdb --auth=trust, no password file, cluster.json 0644.
    hba = cluster.pgdata / "pg_hba.conf"
    hba.write_text(
        "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
    )
    cluster.password_file.unlink()
    cluster.state_file.chmod(0o644)
    cluster.home.chmod(0o755)
    with pytest.raises(DatabaseUnavailable, match="run `gridpatrol db up`"):
        _ = cluster.url

    up = runner.invoke(app, ["db", "up"], env=env)
    assert up.exit_code == 0, up.output
    assert cluster.port is not None
    new_password = cluster.password
    assert new_password != old_password
    assert _mode(cluster.state_file) == 0o600
    assert _mode(cluster.password_file) == 0o600
    assert _mode(cluster.home) & 0o007 == 0
    assert "trust" not in hba.read_text()
    with pytest.raises(psycopg.OperationalError, match="password"):
        _connect(cluster.port, None)
    with pytest.raises(psycopg.OperationalError, match="password"):
        _connect(cluster.port, old_password)
    with _connect(cluster.port, new_password) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.skipif(os.geteuid() != 0, reason="the chown path runs only as root")
def test_handing_files_to_postgres_never_follows_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "root-owned-secret"
    outside.write_text("secret")
    os.chown(outside, 0, 0)
    data = tmp_path / "pgdata"
    (data / "base").mkdir(parents=True)
    (data / "base" / "1").write_text("table")
    # Planted by the server user: links to a file and a directory it must not get.
    (data / "base" / "link").symlink_to(outside)
    (data / "linkdir").symlink_to(tmp_path)
    give_to_server_user(data)
    postgres = pwd.getpwnam("postgres").pw_uid
    assert (data / "base" / "1").stat().st_uid == postgres
    assert (data / "base").stat().st_uid == postgres
    assert outside.stat().st_uid == 0
    assert tmp_path.stat().st_uid == 0
    # A data directory that is itself a symlink is refused as a whole.
    linked = tmp_path / "linked-data"
    linked.symlink_to(outside)
    give_to_server_user(linked)
    assert outside.stat().st_uid == 0


def test_missing_postgis_names_the_package_to_install(tmp_path: Path) -> None:
    (tmp_path / "extension").mkdir()
    with pytest.raises(DatabaseUnavailable, match="apt-get install .*postgresql-15-postgis-3"):
        check_extensions_installed(find_bindir(), sharedir=tmp_path)
