#!/usr/bin/env bash
# The pages' translations (api/pages/locales, Babel): extract the strings of the templates and
# code, merge them into each language's catalog, compile the catalogs. Run it after changing a
# page's text, translate what it reports as untranslated in the .po files, run it again, and
# commit the .pot, .po and .mo files (the server reads the committed .mo: no build step).
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
LOCALES=api/pages/locales
"$PYBABEL" extract --mapping-file api/pages/babel.cfg --keyword N_ --no-location \
  --sort-output --omit-header --output-file "$LOCALES/messages.pot" .
for dir in "$LOCALES"/*/; do
  "$PYBABEL" update --input-file "$LOCALES/messages.pot" --output-dir "$LOCALES" \
    --domain messages --locale "$(basename "$dir")" --no-fuzzy-matching --width 100
done
"$PYBABEL" compile --directory "$LOCALES" --domain messages --statistics
