"""``--json`` always prints a JSON result on stdout, also when the command fails: every command
that has the option, run against a database that is not there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import TEST_SECRET_KEY
from tests.live import free_port

# Arguments each command needs besides --json (a new --json command must be added here).
ARGUMENTS: dict[str, list[str]] = {
    "load": ["{tmp}/districts.geojson", "--layer", "districts"],
    "demo": [],
    "hotspots": [],
    "validate": [],
    "repair": [],
    "purge-contacts": ["--older-than", "30"],
    "purge-households": ["--moved-out-before", "2026-01-01"],
    "service-areas": [],
    "site-stations": ["--new", "1"],
    "db status": [],
    "users add": ["li", "--role", "dispatcher", "--scope", "990101"],
    "users list": [],
    "users disable": ["li"],
    "users token": ["li"],
    "plan-patrols": ["--patroller", "Wang@104.05,30.66", "--point", "104.055,30.661,gate"],
}


# Reports on the embedded cluster, which needs no database to answer.
SUCCEEDS = {"db status"}


def _commands_with_json() -> set[str]:
    def walk(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
        if hasattr(command, "commands"):
            return [
                found
                for name, sub in command.commands.items()
                for found in walk(sub, (*prefix, name))
            ]
        return [(" ".join(prefix), command)]

    return {
        name
        for name, command in walk(typer.main.get_command(app))
        if any("--json" in getattr(p, "opts", ()) for p in command.params)
    }


def test_every_json_command_prints_json_when_the_database_is_away(tmp_path: Path) -> None:
    assert _commands_with_json() == set(ARGUMENTS)
    (tmp_path / "districts.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    env = {
        # Nothing listens there: every command fails to reach its database.
        "DATABASE_URL": f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none",
        "GRIDPATROL_HOME": str(tmp_path / "home"),
        "GRIDPATROL_SECRET_KEY": TEST_SECRET_KEY,
    }
    runner = CliRunner()
    for name, arguments in ARGUMENTS.items():
        args = [*name.split(), *(a.format(tmp=tmp_path) for a in arguments), "--json"]
        result = runner.invoke(app, args, env=env, input="correct horse battery\n" * 2)
        body = json.loads(result.stdout)  # JSON, whatever happened
        assert "secret" not in result.stdout, name
        if name in SUCCEEDS:
            assert result.exit_code == 0, name
            continue
        assert result.exit_code != 0, (name, result.output)
        assert body["ok"] is False and body["exit_code"] == result.exit_code, name
        assert body["detail"], name
