#!/usr/bin/env bash
# Set up what is missing, then run gridpatrol serve (embedded PostGIS + demo city).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/gridpatrol serve "$@"
