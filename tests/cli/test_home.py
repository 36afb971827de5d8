"""Where the database lives: the same home wherever a command runs (never the working
directory), the database named when it is not the usual one, an empty one said, not "clean"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.main import create_app
from cli.app import _stray_home, describe_database
from cli.main import app
from gis.core.settings import Settings, checkout_root, default_home
from tests.conftest import TEST_SECRET_KEY, settings_for

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _without_database_settings() -> dict[str, str]:
    """This process's environment minus everything that would choose a database or home."""
    chosen = {"DATABASE_URL", "GRIDPATROL_DATABASE_URL", "GRIDPATROL_HOME"}
    return {k: v for k, v in os.environ.items() if k not in chosen}


def _db_status(cwd: Path, **env: str) -> dict[str, object]:
    """``gridpatrol db status --json`` run as a new process from ``cwd``."""
    result = subprocess.run(
        [sys.executable, "-m", "cli", "db", "status", "--json"],
        cwd=cwd,
        env=_without_database_settings() | {"PYTHONPATH": str(ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout, result.stderr
    body: dict[str, object] = json.loads(result.stdout)
    return body


def test_the_home_is_the_same_from_another_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    # A development checkout keeps its database in the checkout, wherever the command runs.
    from_root = _db_status(ROOT)
    from_elsewhere = _db_status(elsewhere)
    assert from_root["home"] == from_elsewhere["home"] == str(ROOT / ".gridpatrol")
    assert not (elsewhere / ".gridpatrol").exists()
    # An explicit setting wins, from anywhere; a relative one is made absolute.
    explicit = tmp_path / "explicit-home"
    assert _db_status(elsewhere, GRIDPATROL_HOME=str(explicit))["home"] == str(explicit)
    assert not explicit.exists()  # `db status` only looks


def test_an_installed_package_keeps_its_home_in_the_users_data_directory(tmp_path: Path) -> None:
    site_packages = tmp_path / "lib" / "python3.11" / "site-packages"
    site_packages.mkdir(parents=True)
    assert checkout_root(site_packages) is None
    assert checkout_root(ROOT) == ROOT
    user = tmp_path / "user"
    environ = {"HOME": str(user), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert default_home(package_root=site_packages, environ=environ) == tmp_path / "xdg" / (
        "gridpatrol"
    )
    # The XDG spec: unset or relative means ~/.local/share.
    for xdg in ("", "relative/data"):
        home = default_home(package_root=site_packages, environ=environ | {"XDG_DATA_HOME": xdg})
        assert home == user / ".local" / "share" / "gridpatrol"
    # Another project's pyproject.toml beside the package is not a gridpatrol checkout.
    (site_packages / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert checkout_root(site_packages) is None


def test_the_settings_default_home_is_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDPATROL_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    home = Settings().home
    assert home.is_absolute() and home == default_home()
    assert not home.is_relative_to(tmp_path)


def test_a_database_other_than_the_usual_one_is_named(tmp_path: Path) -> None:
    url = "postgresql://gp:secret-pw@db.example:5432/city"
    named = describe_database(Settings(database_url=url, home=tmp_path))
    assert named == "database: postgresql+psycopg://gp:***@db.example:5432/city (from DATABASE_URL)"
    other_home = describe_database(Settings(database_url=None, home=tmp_path / "h"))
    assert other_home is not None and str(tmp_path / "h") in other_home
    assert describe_database(Settings(database_url=None, home=default_home())) is None


def test_a_stray_cluster_in_the_working_directory_is_pointed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url=None, home=tmp_path / "the-home")
    assert _stray_home(settings) is None  # nothing there
    (tmp_path / ".gridpatrol" / "pgdata").mkdir(parents=True)
    (tmp_path / ".gridpatrol" / "pgdata" / "PG_VERSION").write_text("15\n")
    assert _stray_home(settings) == tmp_path / ".gridpatrol"
    # Not stray when it is the home, nor when DATABASE_URL is what is used.
    assert _stray_home(Settings(database_url=None, home=tmp_path / ".gridpatrol")) is None
    assert _stray_home(Settings(database_url="postgresql://x@h/d", home=tmp_path / "h")) is None


def _env(engine: Engine) -> dict[str, str]:
    return {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "GRIDPATROL_TILE_URL": "",
        "GRIDPATROL_SECRET_KEY": TEST_SECRET_KEY,
    }


def test_validate_on_an_empty_database_says_so_instead_of_clean(empty_engine: Engine) -> None:
    env = _env(empty_engine)
    password = empty_engine.url.password
    table = runner.invoke(app, ["validate"], env=env)
    assert table.exit_code == 1, table.output
    assert "clean" not in table.stdout and "nothing checked" in table.stdout
    words = " ".join(table.stderr.split())
    assert "holds no territory" in words and "gridpatrol demo" in words
    # Which database: named, password masked.
    assert f"database: {empty_engine.url.render_as_string(hide_password=True)}" in words
    assert password and password not in table.output
    as_json = runner.invoke(app, ["validate", "--json"], env=env)
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["empty"] is True and body["ok"] is False and body["problem_count"] == 0


def test_a_map_of_an_empty_database_warns(empty_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "grids.html"
    result = runner.invoke(app, ["map", "grids", "-o", str(out)], env=_env(empty_engine))
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert "the map will show nothing" in " ".join(result.stderr.split())


def test_a_loaded_database_gets_no_warning(shared_demo_engine: Engine, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["map", "coverage", "-o", str(tmp_path / "c.html")], env=_env(shared_demo_engine)
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_get_topology_of_an_empty_database_is_not_ok(empty_engine: Engine) -> None:
    with TestClient(create_app(settings_for(empty_engine), engine=empty_engine)) as client:
        body = client.get("/topology").json()
    assert body["empty"] is True and body["ok"] is False
