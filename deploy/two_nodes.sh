#!/usr/bin/env bash
# The several-machines shape, on one machine (docs/deploy.md, "Two nodes on one machine"):
#
#   nginx :ARENA_LB_PORT (TLS, self-signed) ──┬── node 1: scripts/serve.sh  web worker beat models  :NODE1
#     /static/ from disk                      └── node 2: scripts/serve.sh  web worker              :NODE2
#   both nodes: one PostgreSQL database (DATABASE_URL), one redis-server of this script's own,
#   the same DJANGO_SECRET_KEY / ARENA_EXPORT_SALT, each its own ARENA_DATA_DIR (but one shared
#   exports folder in it, as a shared mount would be).
#
# Each node is its own process group (its own honcho), as it would be its own machine: stopping one
# leaves the other and the balancer serving. Usage:
#
#   bash deploy/two_nodes.sh up            # start everything; stays in the foreground; Ctrl-C or
#                                          # SIGTERM stops it all (balancer, nodes, then Redis)
#   bash deploy/two_nodes.sh stop-node 2   # from another terminal: stop node 1 or 2 (cleanly)
#   bash deploy/two_nodes.sh start-node 2  # ... and start it again
#   bash deploy/two_nodes.sh status
#   bash deploy/two_nodes.sh down          # stop whatever is recorded (if `up` was killed)
#
# Knobs: TWO_NODES_DIR [var/two-nodes]  ARENA_LB_PORT [8443]  ARENA_NODE1_PORT [8101]
#   ARENA_NODE2_PORT [8102]  ARENA_TWO_NODES_REDIS_PORT [6390]  ARENA_WEB_WORKERS [2] (per node)
#   DATABASE_URL [postgres://postgres@127.0.0.1:5432/arena_two_nodes, created if missing]
#   DJANGO_SECRET_KEY / ARENA_EXPORT_SALT [generated once into TWO_NODES_DIR/secrets.env]
# Needs nginx, openssl, redis-server, setsid and curl (Debian: apt-get install -y nginx-light redis-server).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${ARENA_VENV:-$HOME/.cache/basque-arena/venv}"
PY="$VENV/bin/python"
DIR="$(mkdir -p "${TWO_NODES_DIR:-$ROOT/var/two-nodes}" && cd "${TWO_NODES_DIR:-$ROOT/var/two-nodes}" && pwd)"
RUN="$DIR/run"
LB_PORT="${ARENA_LB_PORT:-8443}"
NODE_PORT_1="${ARENA_NODE1_PORT:-8101}"
NODE_PORT_2="${ARENA_NODE2_PORT:-8102}"
REDIS_PORT="${ARENA_TWO_NODES_REDIS_PORT:-6390}"
STOP_TIMEOUT="${ARENA_STOP_TIMEOUT:-60}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/arena_two_nodes}"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
mkdir -p "$RUN"

say() { echo "two_nodes: $*"; }
die() { echo "two_nodes: $*" >&2; exit 2; }

# ------------------------------------------------------------------ processes, by pid file

# A recorded process is running if its pid is alive (not a zombie) and its command line still
# mentions what it was started as (so a recycled pid is never signalled).
running() {  # name
  local file="$RUN/$1.pid" pid pattern
  [ -s "$file" ] || return 1
  pid="$(cat "$file")"
  case "$1" in node*) pattern='serve\.sh|run_honcho' ;; redis) pattern=redis-server ;; nginx) pattern=nginx ;; esac
  [ -r "/proc/$pid/stat" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -Eq -- "$pattern"
}

stop() {  # name signal seconds: signal the process group (each piece leads its own), wait, then SIGKILL
  local name="$1" sig="$2" seconds="$3" pid waited=0
  running "$name" || { rm -f "$RUN/$name.pid"; return 0; }
  pid="$(cat "$RUN/$name.pid")"
  say "stopping $name (pid $pid, SIG$sig)"
  # A node's group is serve.sh (then honcho, which forwards SIGTERM to the groups of its processes);
  # during migrate/collectstatic, those get it too.
  kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
  while running "$name"; do
    if [ "$waited" -ge $((seconds * 10)) ]; then
      say "$name still running after ${seconds}s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$RUN/$name.pid"
}

down_all() {
  trap '' TERM INT  # a second Ctrl-C must not cut the shutdown short
  stop nginx TERM 15  # fast shutdown: open sockets are closed, the page reconnects elsewhere
  # Both nodes at once; each honcho stops its own processes (and serve_models its vLLM servers).
  local waiters=()
  stop node2 TERM $((STOP_TIMEOUT + 15)) & waiters+=($!)
  stop node1 TERM $((STOP_TIMEOUT + 15)) & waiters+=($!)
  wait "${waiters[@]}"
  stop redis TERM 15
  say "stopped"
}

spawn() {  # name logfile command...: in a session of its own; pid recorded
  local name="$1" log="$2"
  shift 2
  setsid "$@" >> "$log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

http_code() { curl -sk -o /dev/null -w '%{http_code}' -H 'X-Forwarded-Proto: https' --max-time 3 "$1" || true; }

wait_http() {  # url seconds what
  local deadline=$((SECONDS + $2)) code
  while [ "$SECONDS" -lt "$deadline" ]; do
    code="$(http_code "$1")"
    case "$code" in 2??|3??|4??) return 0 ;; esac
    sleep 0.5
  done
  die "$3 did not answer $1 within $2 s"
}

# ------------------------------------------------------------------ the pieces

check_tools() {
  local missing=()
  for tool in nginx openssl redis-server setsid curl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ -x "$PY" ] || missing+=("$PY (scripts/install.sh)")
  [ ${#missing[@]} -eq 0 ] || die "missing: ${missing[*]} (Debian: apt-get install -y nginx-light redis-server)"
}

ensure_database() {
  "$PY" - "$DATABASE_URL" <<'EOF'
import sys
from urllib.parse import urlsplit

import psycopg

url = urlsplit(sys.argv[1])
name = url.path.lstrip("/")
params = {"host": url.hostname, "port": url.port or 5432, "user": url.username, "password": url.password}
with psycopg.connect(dbname="postgres", autocommit=True, **{k: v for k, v in params.items() if v}) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        conn.execute(f'CREATE DATABASE "{name}"')
        print(f"two_nodes: created database {name}")
EOF
}

ensure_secrets() {
  # One secret key and export salt for the whole deployment: every node signs and checks the same
  # cookies and hashes the same participants the same way.
  if [ ! -s "$DIR/secrets.env" ]; then
    (umask 077 && "$PY" -c 'import secrets
print("DJANGO_SECRET_KEY=" + secrets.token_urlsafe(50))
print("ARENA_EXPORT_SALT=" + secrets.token_urlsafe(32))' > "$DIR/secrets.env")
  fi
  local key="${DJANGO_SECRET_KEY:-}" salt="${ARENA_EXPORT_SALT:-}"
  set -a
  # shellcheck disable=SC1091
  . "$DIR/secrets.env"
  set +a
  [ -z "$key" ] || export DJANGO_SECRET_KEY="$key"
  [ -z "$salt" ] || export ARENA_EXPORT_SALT="$salt"
}

ensure_tls() {
  mkdir -p "$DIR/tls"
  [ -s "$DIR/tls/cert.pem" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$DIR/tls/key.pem" -out "$DIR/tls/cert.pem" >/dev/null 2>&1
  chmod 600 "$DIR/tls/key.pem"
}

render_nginx() {
  local base="$DIR/nginx" user_line=""
  mkdir -p "$base/tmp"
  # As root, nginx's workers would run as "nobody", which may not read the checkout's files.
  [ "$(id -u)" != 0 ] || user_line="user root;  # demo only: the workers read files under the checkout"
  cat > "$base/nginx.conf" <<EOF
# Rendered by deploy/two_nodes.sh; the proxying itself is deploy/nginx/arena-proxy.conf.
$user_line
worker_processes 1;
pid $RUN/nginx.master.pid;
error_log $base/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $base/access.log;
    client_body_temp_path $base/tmp/body;
    proxy_temp_path $base/tmp/proxy;
    fastcgi_temp_path $base/tmp/fastcgi;
    uwsgi_temp_path $base/tmp/uwsgi;
    scgi_temp_path $base/tmp/scgi;

    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }

    upstream arena_web {
        server 127.0.0.1:$NODE_PORT_1 max_fails=1 fail_timeout=10s;
        server 127.0.0.1:$NODE_PORT_2 max_fails=1 fail_timeout=10s;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:$LB_PORT ssl;
        server_name localhost 127.0.0.1;
        ssl_certificate $DIR/tls/cert.pem;
        ssl_certificate_key $DIR/tls/key.pem;
        client_max_body_size 2m;

        location /static/ {
            alias $DIR/static/;
            expires 7d;
            access_log off;
        }

        location / {
            proxy_pass http://arena_web;
            include $ROOT/deploy/nginx/arena-proxy.conf;
        }
    }
}
EOF
  nginx -t -q -p "$base/" -c "$base/nginx.conf" -e "$base/error.log" || die "nginx rejects $base/nginx.conf"
}

start_redis() {
  mkdir -p "$DIR/redis"
  spawn redis "$DIR/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR/redis" \
    --save "" --appendonly no
  for _ in $(seq 1 100); do
    if "$PY" -c "import redis, sys; redis.Redis(port=$REDIS_PORT, socket_connect_timeout=0.3).ping()" 2>/dev/null; then
      return 0
    fi
    running redis || die "redis-server exited: $(tail -n 5 "$DIR/redis.log")"
    sleep 0.2
  done
  die "redis-server did not answer on port $REDIS_PORT"
}

start_node() {  # 1 or 2
  local n="$1" port processes migrate
  running "node$n" && { say "node $n is already running"; return 0; }
  if [ "$n" = 1 ]; then
    port="$NODE_PORT_1"; processes="web worker beat models"; migrate=1
  else
    port="$NODE_PORT_2"; processes="web worker"; migrate=0  # one node migrates and collects static
  fi
  mkdir -p "$DIR/node$n" "$DIR/shared/exports"
  # Queued exports are written by whichever node's Celery worker runs them and downloaded through
  # whichever web node the researcher reaches: DATA_DIR/exports is one shared folder (in production,
  # a shared mount on every web and worker node).
  ln -sfn "$DIR/shared/exports" "$DIR/node$n/exports"
  say "starting node $n on 127.0.0.1:$port ($processes); log $DIR/node$n.log"
  spawn "node$n" "$DIR/node$n.log" env \
    ARENA_DATA_DIR="$DIR/node$n" ARENA_WEB_PORT="$port" ARENA_WEB_HOST=127.0.0.1 ARENA_NODE_NAME="node$n" \
    ARENA_PROCESSES="$processes" ARENA_MIGRATE="$migrate" ARENA_COLLECTSTATIC="$migrate" \
    DJANGO_STATIC_ROOT="$DIR/static" ARENA_STOP_TIMEOUT="$STOP_TIMEOUT" \
    bash "$ROOT/scripts/serve.sh"
}

wait_node_ready() {  # n seconds
  local port
  [ "$1" = 1 ] && port="$NODE_PORT_1" || port="$NODE_PORT_2"
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    running "node$1" || die "node $1 exited: $(tail -n 20 "$DIR/node$1.log")"
    case "$(http_code "http://127.0.0.1:$port/login/")" in 2??|3??|4??) return 0 ;; esac
    sleep 0.5
  done
  die "node $1 did not answer within $2 s"
}

start_nginx() {
  spawn nginx "$DIR/nginx/error.log" nginx -p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" \
    -g "daemon off;"
  wait_http "https://127.0.0.1:$LB_PORT/login/" 30 "nginx"
}

up() {
  check_tools
  for name in nginx node1 node2 redis; do
    running "$name" && die "$name is already running (pid $(cat "$RUN/$name.pid")): deploy/two_nodes.sh down"
  done
  trap 'exit 143' TERM
  trap 'exit 130' INT
  trap down_all EXIT
  ensure_secrets
  ensure_database
  ensure_tls
  render_nginx
  start_redis
  start_node 1
  # Node 2 starts once node 1 has migrated the shared database and collected the static files.
  local deadline=$((SECONDS + 300))
  until grep -q "serve.sh: starting" "$DIR/node1.log" 2>/dev/null; do
    running node1 || die "node 1 exited: $(tail -n 20 "$DIR/node1.log")"
    [ "$SECONDS" -lt "$deadline" ] || die "node 1 did not get past migrate/collectstatic"
    sleep 0.5
  done
  start_node 2
  wait_node_ready 1 180
  wait_node_ready 2 180
  start_nginx
  say "ready: https://127.0.0.1:$LB_PORT/ (self-signed certificate) -> nodes :$NODE_PORT_1 and :$NODE_PORT_2;" \
      "Redis :$REDIS_PORT; logs in $DIR"
  while :; do
    sleep 1 &
    wait $! || true
  done
}

case "${1:-up}" in
  up) up ;;
  down) down_all ;;
  stop-node)
    [[ "${2:-}" =~ ^[12]$ ]] || die "usage: two_nodes.sh stop-node 1|2"
    stop "node$2" TERM $((STOP_TIMEOUT + 15)) ;;
  start-node)
    [[ "${2:-}" =~ ^[12]$ ]] || die "usage: two_nodes.sh start-node 1|2"
    ensure_secrets
    running redis || die "Redis is not running: start everything with deploy/two_nodes.sh up"
    start_node "$2"
    wait_node_ready "$2" 180
    say "node $2 is back" ;;
  status)
    for name in nginx node1 node2 redis; do
      if running "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; fi
    done ;;
  *) die "usage: two_nodes.sh up | down | stop-node N | start-node N | status" ;;
esac
