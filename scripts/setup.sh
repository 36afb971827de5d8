#!/usr/bin/env bash
# Idempotent set-up of everything gridpatrol needs on Debian/Ubuntu; says what it installs.
#   scripts/setup.sh            PostgreSQL 15 + PostGIS 3 + pgRouting, Python venv, packages
#   scripts/setup.sh --test     the same, plus Chromium for the map tests and GDAL's command-line
#                               tools (ogrinfo/ogr2ogr: the OGC API Features and MVT tests)
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--test" ] && want_browser=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# --- system packages --------------------------------------------------------------------
packages=(postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting python3-venv python3-dev)
[ "$want_browser" = 1 ] && packages+=(chromium fonts-noto-cjk gdal-bin)
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# python3-venv/python3-dev matter only when the system python is the one we use.
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's postgresql package starts a system cluster we do not use.
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
    $sudo pg_ctlcluster 15 main stop 2>/dev/null || true
  fi
else
  say "Debian packages present: ${packages[*]}"
fi

# --- Python -------------------------------------------------------------------------------
python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { say "Python 3.11 is required (Debian 12 ships it as python3)"; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.gridpatrol-lock
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
  say "installing Python packages from requirements.lock"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.lock
  cp requirements.lock "$stamp"
fi
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/python -m pip install -q --no-deps -e .

# --- map assets (Leaflet and plugins, from the npm registry; served by gridpatrol) --------
if [ ! -f maps/node_modules/.gridpatrol-installed ] \
   || ! cmp -s maps/package-lock.json maps/node_modules/.gridpatrol-installed; then
  say "installing map assets (Leaflet and plugins) from the npm registry: maps/package-lock.json"
  .venv/bin/python -m maps.assets install
fi
say "ready"
