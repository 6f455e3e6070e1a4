#!/usr/bin/env bash
# The production-like stack on one machine, in one command (docs/deploy.md):
#   migrate + collectstatic, then honcho runs deploy/Procfile: N uvicorn ASGI workers, a Celery
#   worker, Celery beat and `manage.py serve_models --watch`, against DATABASE_URL and REDIS_URL.
# SIGTERM or SIGINT (Ctrl-C) stops every process: honcho forwards SIGTERM to each process group and
# waits (up to ARENA_STOP_TIMEOUT s after the first exits, then SIGKILL); serve_models stops its vLLM
# servers on the way out. Exit status: honcho's (143 after SIGTERM, 130 after SIGINT); 2 on a
# configuration error, before anything is started.
#
#   DJANGO_SECRET_KEY=... ARENA_EXPORT_SALT=... \
#   DATABASE_URL=postgres://arena@db/arena REDIS_URL=redis://127.0.0.1:6379/0 bash scripts/serve.sh
#
# Knobs (environment; defaults in brackets):
#   DJANGO_SETTINGS_MODULE   [config.settings.prod]  prod requires DJANGO_SECRET_KEY and ARENA_EXPORT_SALT
#   ARENA_WEB_WORKERS [2]  ARENA_WEB_PORT [8000]  ARENA_WEB_HOST [127.0.0.1]
#   ARENA_FORWARDED_ALLOW_IPS [127.0.0.1,::1]  proxies whose X-Forwarded-Proto/-For uvicorn honours
#   ARENA_PROCESSES [web worker beat models]   which Procfile entries this node runs
#   ARENA_CELERY_POOL [threads]  ARENA_CELERY_CONCURRENCY [2]  ARENA_NODE_NAME [arena] (Celery node name)
#     threads, not prefork: honcho signals whole process groups, so prefork's pool children would get
#     SIGTERM too and die mid-task (WorkerLostError) instead of finishing it in Celery's warm shutdown.
#   ARENA_MIGRATE [1]  ARENA_COLLECTSTATIC [1]  (0 on nodes that share a database/static folder with one
#                      that already did it)
#   ARENA_STOP_TIMEOUT [60]  ARENA_WEB_GRACEFUL_SECONDS [10]  ARENA_WEB_LOG_LEVEL [info]
#   ARENA_ENV_FILE  a file of VAR=value lines read first (e.g. /etc/basque-arena/arena.env)
#   ARENA_VENV [~/.cache/basque-arena/venv]  (scripts/install.sh installs it)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() { echo "serve.sh: $*" >&2; exit 2; }

if [ -n "${ARENA_ENV_FILE:-}" ]; then
  [ -r "$ARENA_ENV_FILE" ] || die "ARENA_ENV_FILE=$ARENA_ENV_FILE cannot be read"
  set -a
  # shellcheck disable=SC1090
  . "$ARENA_ENV_FILE"
  set +a
fi

VENV="${ARENA_VENV:-$HOME/.cache/basque-arena/venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || die "no Python at $PY: run scripts/install.sh (or set ARENA_VENV)"
"$PY" -c "import honcho, uvicorn, celery" 2>/dev/null \
  || die "honcho, uvicorn or celery is missing from $VENV: run scripts/install.sh"

export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.prod}"
if [ "$DJANGO_SETTINGS_MODULE" = config.settings.prod ]; then
  for name in DJANGO_SECRET_KEY ARENA_EXPORT_SALT; do
    [ -n "${!name:-}" ] || die "$name must be set with DJANGO_SETTINGS_MODULE=config.settings.prod (see docs/deploy.md)"
  done
fi
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL must be set (PostgreSQL: the workers and nodes share it)"
[ -n "${REDIS_URL:-}" ] \
  || die "REDIS_URL must be set: several workers need a shared channel layer, cache and Celery broker"

export ARENA_WEB_WORKERS="${ARENA_WEB_WORKERS:-2}"
export ARENA_WEB_PORT="${ARENA_WEB_PORT:-8000}"
export ARENA_WEB_HOST="${ARENA_WEB_HOST:-127.0.0.1}"
export ARENA_FORWARDED_ALLOW_IPS="${ARENA_FORWARDED_ALLOW_IPS:-127.0.0.1,::1}"
export ARENA_WEB_GRACEFUL_SECONDS="${ARENA_WEB_GRACEFUL_SECONDS:-10}"
export ARENA_WEB_LOG_LEVEL="${ARENA_WEB_LOG_LEVEL:-info}"
export ARENA_CELERY_POOL="${ARENA_CELERY_POOL:-threads}"
export ARENA_CELERY_CONCURRENCY="${ARENA_CELERY_CONCURRENCY:-2}"
export ARENA_NODE_NAME="${ARENA_NODE_NAME:-arena}"
export ARENA_STOP_TIMEOUT="${ARENA_STOP_TIMEOUT:-60}"
export ARENA_DATA_DIR="${ARENA_DATA_DIR:-$ROOT/var}"
export PYTHONUNBUFFERED=1
for name in ARENA_WEB_WORKERS ARENA_WEB_PORT ARENA_CELERY_CONCURRENCY ARENA_STOP_TIMEOUT ARENA_WEB_GRACEFUL_SECONDS; do
  [[ "${!name}" =~ ^[0-9]+$ ]] && [ "${!name}" -gt 0 ] || die "$name must be a positive whole number, not '${!name}'"
done
read -r -a processes <<< "${ARENA_PROCESSES:-web worker beat models}"
mkdir -p "$ARENA_DATA_DIR"

# A SIGTERM/SIGINT while preparing stops the step in progress too (then honcho takes over signals).
step_pid=""
on_signal() {
  if [ -n "$step_pid" ]; then kill -TERM "$step_pid" 2>/dev/null || true; wait "$step_pid" 2>/dev/null || true; fi
  exit "$1"
}
trap 'on_signal 143' TERM
trap 'on_signal 130' INT
step() {
  "$@" &
  step_pid=$!
  wait "$step_pid"
  step_pid=""
}

if [ "${ARENA_MIGRATE:-1}" = 1 ]; then
  echo "serve.sh: manage.py migrate"
  step "$PY" manage.py migrate --noinput
fi
if [ "${ARENA_COLLECTSTATIC:-1}" = 1 ]; then
  echo "serve.sh: manage.py collectstatic"
  step "$PY" manage.py collectstatic --noinput -v 0
fi
# The ASGI server refuses WebSocket frames far above the arena's own limit before buffering them.
ARENA_WS_MAX_SIZE="$("$PY" -c 'import django; django.setup(); from arena.frames import websocket_max_size as m; print(m())' | tail -n 1)"
[[ "$ARENA_WS_MAX_SIZE" =~ ^[0-9]+$ ]] || die "could not read arena.frames.websocket_max_size()"
export ARENA_WS_MAX_SIZE ARENA_PYTHON="$PY"

echo "serve.sh: starting ${processes[*]} (settings $DJANGO_SETTINGS_MODULE; web on $ARENA_WEB_HOST:$ARENA_WEB_PORT," \
     "$ARENA_WEB_WORKERS workers; ws-max-size $ARENA_WS_MAX_SIZE)"
trap - TERM INT
# -e /dev/null: the environment is exactly this one (honcho would otherwise read ./.env over it).
exec "$PY" deploy/run_honcho.py start --procfile deploy/Procfile --app-root "$ROOT" --env /dev/null --no-colour \
  "${processes[@]}"
