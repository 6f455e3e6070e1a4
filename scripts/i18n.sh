#!/usr/bin/env bash
# Refresh the gettext catalogues from the sources and compile them (the .mo files are committed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ARENA_VENV:-$HOME/.cache/basque-arena/venv}"
cd "$ROOT"
mkdir -p locale
"$VENV/bin/python" manage.py makemessages -l eu -l es -l en --no-location --no-obsolete \
  --ignore "tests/*" --ignore "training/*" --ignore "bench/*" --ignore "var/*" --ignore "scripts/*" --ignore "data/*"
"$VENV/bin/python" manage.py compilemessages --ignore "var/*" -v 0
