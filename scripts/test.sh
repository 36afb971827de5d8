#!/usr/bin/env bash
# Set up what is missing (Chromium included), then run every check the README promises:
# lint, formatting, strict types, then the whole test suite (which includes the migration
# drift and import-cycle tests). Any failing check fails the run.
# Extra arguments go to pytest (scripts/test.sh -k importing -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

say() { printf '\033[1m[test]\033[0m %s\n' "$*" >&2; }

say "ruff check"
.venv/bin/ruff check .
say "ruff format --check"
.venv/bin/ruff format --check .
say "mypy --strict (gis api cli maps data bench tests)"
.venv/bin/mypy gis api cli maps data bench tests
say "pytest"
exec .venv/bin/python -m pytest "$@"
