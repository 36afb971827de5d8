"""Every shell example of README.md runs as written against a server on the demo city.

The blocks fenced as ``sh``, ``bash``, ``shell`` or ``console`` run in README order, in one
shell session as a reader pasting them would (variables and functions of earlier blocks carry
on), each under ``set -euo pipefail`` with a time limit, in a scratch directory holding
``.venv`` and ``data`` of this checkout; ``localhost:8000`` and ``127.0.0.1:8000`` become the
test server's address, and ``curl`` fails on an HTTP error status (``--fail-with-body``)
unless the command prints the status itself (``-w '%{http_code}'``). A
block passes when it exits 0 and no JSON it prints is an error (a ``detail`` member).

A block that must not run starts with ``# readme-test: skip (why)`` — for the set-up scripts
and commands that need what CI has not (an OpenStreetMap extract, minutes of CPU); see the
README's Development section.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.live import ROOT, serve_process, server_env

README = ROOT / "README.md"
SHELLS = {"sh", "bash", "shell", "console"}
SKIP = re.compile(r"#\s*readme-test:\s*skip\b\s*(?P<why>\(.+\))?")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
_ADDRESS = re.compile(r"\b(?:localhost|127\.0\.0\.1):8000\b")
# Generous: a loaded CI machine may take tens of seconds to start the CLI.
BLOCK_TIMEOUT_S = 600

# Runs one block in a fresh bash that first takes on the session so far (variables and
# functions saved by the block before) and saves it again on the way out, whatever happened.
_RUNNER = r"""
__state=$1; __block=$2
__base=" $(compgen -v | tr '\n' ' ') "
source "$__state"
__save() {
    local __rc=$? __v __line
    {
        for __v in $(compgen -v); do
            case "$__base" in *" $__v "*) continue ;; esac
            case "$__v" in __*|BASH_*|FUNCNAME|PIPESTATUS|_) continue ;; esac
            __line=$(declare -p "$__v" 2>/dev/null) || continue
            [[ "$__line" =~ ^declare\ -[a-zA-Z]*r ]] && continue
            printf '%s\n' "$__line"
        done
        declare -f
    } > "$__state.new" && mv "$__state.new" "$__state"
    exit "$__rc"
}
trap __save EXIT
set -euo pipefail
source "$__block"
"""
# The session's start: curl fails on an HTTP error status and still prints the body, unless
# the command prints the status itself (-w '%{http_code}'): then the status is the example.
_PRELUDE = (
    "curl() {\n"
    '    case " $* " in\n'
    '        *http_code*) command curl "$@" ;;\n'
    '        *) command curl --fail-with-body "$@" ;;\n'
    "    esac\n"
    "}\n"
)


@dataclass(frozen=True)
class Block:
    """A fenced shell example of the README: the line of its opening fence and its text."""

    line: int
    text: str

    @property
    def skip_reason(self) -> str | None:
        """``(why)`` when the block is marked not to run; '' when marked without a reason."""
        first = next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")
        match = SKIP.match(first)
        if match is None:
            return None
        return match.group("why") or ""

    def name(self) -> str:
        first = next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")
        return f"README.md line {self.line} ({first[:60]})"


def shell_blocks(markdown: str) -> list[Block]:
    """The README's fenced shell blocks, in order (indented ones in lists included)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    k = 0
    while k < len(lines):
        opening = _FENCE.match(lines[k])
        if opening is None:
            k += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].lower()
        body: list[str] = []
        k += 1
        while k < len(lines) and not lines[k].strip().startswith(fence):
            line = lines[k]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            k += 1
        if info in SHELLS:
            blocks.append(Block(line=k - len(body), text="\n".join(body) + "\n"))
        k += 1
    return blocks


def json_errors(output: str) -> list[str]:
    """The ``detail`` of every JSON document in ``output`` that is an error body.

    Documents may be concatenated (``curl`` prints no newline) or stand on lines among text.
    """
    decoder = json.JSONDecoder()
    errors: list[str] = []
    k = 0
    while k < len(output):
        if output[k] not in "{[" or (k > 0 and output[k - 1] not in "\n}] \t"):
            k += 1
            continue
        try:
            document, end = decoder.raw_decode(output, k)
        except json.JSONDecodeError:
            k += 1
            continue
        if isinstance(document, dict) and "detail" in document and document.get("ok") is not True:
            errors.append(str(document["detail"]))
        k = end
    return errors


def test_blocks_are_found_and_every_skip_says_why() -> None:
    blocks = shell_blocks(README.read_text())
    assert len(blocks) >= 10
    for block in blocks:
        assert block.skip_reason != "", f"{block.name()}: say why: # readme-test: skip (why)"
    marked = [b for b in blocks if b.skip_reason]
    # The marker is for blocks that cannot run here, not for examples that broke.
    assert len(marked) <= 4, [b.name() for b in marked]


def test_extraction_and_json_check_on_a_sample() -> None:
    sample = (
        "Text\n\n```sh\necho 1\n```\n\n- item\n\n  ```bash\n  echo 2\n  ```\n```python\nx\n```\n"
    )
    blocks = shell_blocks(sample)
    assert [(b.line, b.text) for b in blocks] == [(3, "echo 1\n"), (9, "echo 2\n")]
    assert json_errors('{"a": 1}{"detail": "no"}\n[{"b": 2}]') == ["no"]
    assert json_errors('{"ok": false, "error": "X", "detail": "bad"}') == ["bad"]
    assert json_errors("not json {detail} [1, 2]") == []


@pytest.fixture
def session(demo_engine: Engine, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A server on a copy of the demo city, and the environment and directory of the shell."""
    home = Path(tempfile.mkdtemp(prefix="gridpatrol-readme-home-"))
    env = server_env(demo_engine, GRIDPATROL_HOME=str(home))
    with serve_process(env, tmp_path / "serve.log") as base:
        work = tmp_path / "work"
        work.mkdir()
        for name in (".venv", "data"):
            (work / name).symlink_to(ROOT / name)
        shell_env = env | {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path),
        }
        yield base, shell_env, work


def _run(block: Block, *, base: str, env: dict[str, str], work: Path) -> dict[str, Any]:
    script = work.parent / f"block-{block.line}.sh"
    script.write_text(_ADDRESS.sub(base.removeprefix("http://"), block.text))
    try:
        done = subprocess.run(
            ["bash", "-c", _RUNNER, "readme", str(work.parent / "state.sh"), str(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"rc": None, "stdout": "", "stderr": f"timed out after {BLOCK_TIMEOUT_S} s"}
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def test_every_readme_shell_example_runs_as_written(
    session: tuple[str, dict[str, str], Path],
) -> None:
    base, env, work = session
    (work.parent / "state.sh").write_text(_PRELUDE)
    failures: list[str] = []
    ran = 0
    for block in shell_blocks(README.read_text()):
        if block.skip_reason:
            continue
        started = time.monotonic()
        result = _run(block, base=base, env=env, work=work)
        ran += 1
        print(f"{block.name()}: exit {result['rc']} in {time.monotonic() - started:.1f} s")
        errors = json_errors(result["stdout"])
        if result["rc"] != 0 or errors:
            failures.append(
                f"{block.name()}: exit {result['rc']}"
                + (f", JSON errors {errors[:3]}" if errors else "")
                + f"\n--- stderr (end)\n{result['stderr'][-1500:]}"
                + f"\n--- stdout (end)\n{result['stdout'][-800:]}"
            )
    assert ran >= 8
    assert not failures, (
        f"{len(failures)} README example block(s) failed (later ones may follow from the first):"
        "\n\n" + "\n\n".join(failures)
    )


@contextmanager
def _refusing_server() -> Iterator[int]:
    """A local HTTP server answering every GET with 401; yields its port."""

    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_session_carries_state_and_a_broken_block_fails(tmp_path: Path) -> None:
    """No server needed: variables and functions carry on; an unset variable, a failing
    command in the middle of a block and a curl to an error status each fail their block."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "state.sh").write_text(_PRELUDE)
    env = dict(os.environ)

    def run(text: str) -> dict[str, Any]:
        return _run(Block(line=1, text=text), base="http://127.0.0.1:9", env=env, work=work)

    assert run('X=42\nshout() { echo "<$1>"; }\nexport Y=7\n')["rc"] == 0
    carried = run('shout "$X $Y"\n')
    assert carried["rc"] == 0 and carried["stdout"] == "<42 7>\n"
    assert run('echo "$PASSWORD_NEVER_SET"\n')["rc"] != 0
    assert run("false\necho after\n")["rc"] != 0
    assert run("curl -s localhost:8000/health\n")["rc"] != 0  # port 9: nothing listens
    # An error status fails the block, unless the example prints the status on purpose.
    with _refusing_server() as port:
        address = f"http://127.0.0.1:{port}/maps"
        assert run(f"curl -s {address}\n")["rc"] != 0
        shown = run(f"curl -s -o /dev/null -w '%{{http_code}}\\n' {address}\n")
    assert shown["rc"] == 0 and shown["stdout"] == "401\n"
    # A failed block keeps what it set before failing, as a pasted session would.
    assert run("Z=1\nfalse\n")["rc"] != 0 and run('echo "$Z"\n')["stdout"] == "1\n"
