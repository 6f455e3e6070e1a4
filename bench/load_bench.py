"""Load benchmark of the whole arena flow on a production-like stack it starts (and stops) itself.

Simulated volunteers log in through /login/, open the battle WebSocket (with the site's Origin),
send a prompt, read the streamed frames until ``turn_done`` (sometimes a second turn), vote over
HTTP with the CSRF token and read the reveal, then start the next battle on the same socket (the
"again" button), in a closed loop for ``--duration`` seconds. The stack:

- PostgreSQL on 127.0.0.1:5432 (user postgres, trust): its own database ``arena_load_bench``,
  dropped, created and migrated at start (never ``test`` or ``test_*``), dropped at the end;
- its own ``redis-server`` on a free port (never the shared one on 6379);
- uvicorn with ``--web-workers`` ASGI worker processes on ``config.asgi:application``;
- a Celery worker (threads pool) with embedded beat, so the health check brings models back;
- ``bench/fake_upstream.py`` in its own process: a streaming OpenAI-compatible server at
  ``--tokens-per-s``, registered as ``--models`` external models (healthy) through the
  registration service.

Report (JSON on stdout and in ``var/bench/load-<time>/report.json``; a human summary on stderr and
in ``summary.txt``; server logs beside it): votes stored per second over the window, prompt-to-first-
token p50/p95, event-loop lag of the ASGI workers (``config/loop_lag.py``), errors by kind, VOTES
LOST (votes a client saw accepted, HTTP 200 with a reveal, that the database does not hold; must be
0) and duplicates, load average and CPU seconds of the arena processes, the upstream and the driver.

``--chaos``: mid-run the upstream is killed (SIGKILL) and restarted after ``--chaos-upstream-down``
seconds, then redis-server is killed (SIGKILL) and started again on the same port; the report lists
what the volunteers saw and still checks that no accepted vote was lost.

  python bench/load_bench.py --duration 60 --volunteers 50
  python bench/load_bench.py --duration 60 --volunteers 50 --chaos
See docs/load.md. Run it on a quiet machine: every number is shared with whatever else runs.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson
import psutil
import websockets
from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "arena_load_bench"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PASSWORD = "Mendia-Load-2026"
PROMPTS = (
    "Kaixo! Zein da Euskal Herriko mendirik altuena?",
    "Idatzi olerki labur bat itsasoari buruz.",
    "Azaldu zer den fotosintesia, umeentzat.",
    "Zer egin dezaket Donostian euri egunean?",
    "Itzuli euskarara: 'The weather is nice today'.",
)
FOLLOW_UPS = ("Eta zergatik?", "Laburtu esaldi batean.", "Eman beste adibide bat.")
CHOICES = ("A", "B", "tie")
OVERALL = ("A", "B", "tie", "both_bad")
WS_FRAME_TIMEOUT = 90.0  # seconds between two frames of one turn (the arena waits 60 s for a first token)


def now() -> float:
    return time.monotonic()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(values: list[float], points=(50, 95, 99)) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    out = {"n": len(ordered)}
    for point in points:
        rank = max(1, -(-point * len(ordered) // 100))  # nearest rank
        out[f"p{point}"] = round(ordered[rank - 1], 2)
    out["max"] = round(ordered[-1], 2)
    return out


# ---------------------------------------------------------------- the stack


class Stack:
    """Every process the bench starts, each in its own process group; ``stop`` leaves none behind."""

    def __init__(self, args, run_dir: Path):
        self.args = args
        self.dir = run_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.all_pgids: list[int] = []
        self.started: list[tuple[str, int]] = []  # (name, process group) of every start, restarts included
        self.web_port, self.redis_port, self.upstream_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.upstream_url = f"http://127.0.0.1:{self.upstream_port}/v1"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{DB_NAME}"
        self.served_names = [f"load-bench-{chr(ord('a') + i)}" for i in range(args.models)]
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "ARENA_", "DJANGO_"))}
        self.env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings.dev",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "ARENA_PROMPTS_PER_MINUTE": "1000000",
            "ARENA_DATA_DIR": str(run_dir / "data"),
            "ARENA_HEALTH_INTERVAL": str(args.health_interval),
            "ARENA_LOOP_LAG_FILE": str(run_dir / "looplag"),
            "DJANGO_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        })

    # -- processes

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = process
        self.all_pgids.append(process.pid)
        self.started.append((name, process.pid))
        return process

    def kill(self, name: str, sig=signal.SIGKILL, wait: float = 10.0) -> None:
        process = self.procs.get(name)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> list[str]:
        """SIGTERM every group, then SIGKILL what is left; returns the groups still alive (orphans)."""
        for name in ("celery", "web", "upstream", "redis"):
            process = self.procs.get(name)
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = now() + 15
        for process in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - now()))
        time.sleep(0.5)
        for pgid in self.all_pgids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.5)
        for process in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        deadline = now() + 10  # a killed group's last members may take a moment to be reaped
        while True:
            orphans = [f"pid {pid} ({name}, group {pgid})" for pid, name, pgid in self._alive()]
            if not orphans or now() > deadline:
                return orphans
            time.sleep(0.2)

    def _alive(self) -> list[tuple[int, str, int]]:
        """Processes (not zombies) still in one of the bench's process groups, or still its children."""
        groups = set(self.all_pgids)
        alive = {}
        for process in psutil.process_iter(["pid", "name", "status"]):
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) in groups:
                    alive[process.pid] = (process.pid, process.info["name"], os.getpgid(process.pid))
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.status() != psutil.STATUS_ZOMBIE:
                    alive[child.pid] = (child.pid, child.name(), -1)
        return list(alive.values())

    # -- services

    def start_redis(self) -> None:
        self.spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--protected-mode", "yes"])
        import redis

        client = redis.Redis(port=self.redis_port, socket_connect_timeout=0.5)
        for _ in range(200):
            with contextlib.suppress(redis.exceptions.ConnectionError):
                client.ping()
                return
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def start_upstream(self) -> None:
        self.spawn("upstream", [sys.executable, str(ROOT / "bench" / "fake_upstream.py"), "--port",
                                str(self.upstream_port), "--models", ",".join(self.served_names),
                                "--tokens-per-s", str(self.args.tokens_per_s),
                                "--answer-tokens", str(self.args.answer_tokens),
                                "--ttft-ms", str(self.args.upstream_ttft_ms)])
        wait_http(f"http://127.0.0.1:{self.upstream_port}/health", 30, "the fake upstream")

    def start_web(self, ws_max_size: int) -> None:
        self.spawn("web", [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                           "--port", str(self.web_port), "--workers", str(self.args.web_workers),
                           "--ws", self.args.ws, "--ws-max-size", str(ws_max_size),
                           "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "5"])
        wait_http(f"{self.base}/login/", 90, "the ASGI server")

    def start_celery(self) -> None:
        self.spawn("celery", [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool",
                              self.args.celery_pool, "--concurrency", str(self.args.celery_concurrency),
                              "--beat", "--schedule", str(self.dir / "celerybeat-schedule"),
                              "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                              "--hostname", f"loadbench@{socket.gethostname()}"])
        log = self.dir / "celery.log"
        deadline = now() + 90
        while now() < deadline:
            if " ready." in log.read_text(errors="replace"):
                return
            if self.procs["celery"].poll() is not None:
                break
            time.sleep(0.2)
        raise SystemExit(f"the Celery worker did not start; see {log}")

    def celery_backlog(self) -> int | None:
        import redis

        try:
            client = redis.Redis(port=self.redis_port, socket_connect_timeout=1, socket_timeout=2)
            names = ["celery"] + [f"celery\x06\x16{i}" for i in range(1, 10)]
            return sum(client.llen(name) for name in names)
        except redis.exceptions.RedisError:
            return None


def wait_http(url: str, seconds: float, what: str) -> None:
    deadline = now() + seconds
    while now() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not answer {url} within {seconds:.0f} s")


def reset_database() -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def pg_sessions() -> int | None:
    """Sessions (connections) opened on the bench's database so far (PostgreSQL >= 14)."""
    import psycopg

    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [DB_NAME]).fetchone()
            return int(row[0]) if row else None
    except psycopg.Error:
        return None


def setup_django(stack: Stack) -> None:
    """The driver's own Django, on the bench database: creates users and models, checks votes."""
    os.environ.update({k: v for k, v in stack.env.items() if k in (
        "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "ARENA_DATA_DIR", "HF_HUB_OFFLINE")})
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "ARENA_LOOP_LAG_FILE"):
        os.environ.pop(name, None)
    import django

    django.setup()


def prepare_stack(stack: Stack) -> None:
    """A fresh migrated database, the driver's Django on it, Redis, the upstream and its two models
    registered: what every bench needs before its own setup (relay_scale.py, vote_ingest.py)."""
    reset_database()
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                             env=stack.env, capture_output=True, text=True, timeout=600)
    if migrate.returncode != 0:
        raise SystemExit(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
    setup_django(stack)
    stack.start_redis()
    stack.start_upstream()
    register_models(stack)


def create_volunteers(count: int) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone as dj_timezone

    from arena import selectors
    from arena.models import Participant

    consent = selectors.active_consent()
    hashed = make_password(PASSWORD)  # once: hashing per user would take minutes for many volunteers
    names = [f"loadbench{i:05d}" for i in range(count)]
    User = get_user_model()
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=name, email=f"{name}@example.org", password=hashed) for name in names])
        users = list(User.objects.filter(username__in=names).order_by("username"))
        Participant.objects.bulk_create([Participant(
            user=user, basque_level="C1-C2", education="university", consent_version=consent.version,
            consented_at=dj_timezone.now(), ui_language="eu") for user in users])
    return names


def register_models(stack: Stack) -> list[str]:
    from models_serving import services
    from models_serving.models import ServedModel

    names = []
    for index, served in enumerate(stack.served_names):
        model = services.register_model(
            public_name=f"Load-Bench-{chr(ord('A') + index)}", kind=ServedModel.Kind.EXTERNAL,
            endpoint_url=stack.upstream_url, served_name=served,
            description="fake upstream of bench/load_bench.py", max_tokens=stack.args.answer_tokens)
        assert model.health == ServedModel.Health.HEALTHY, model.last_error
        names.append(model.public_name)
    return names


# ---------------------------------------------------------------- measurements


class CpuSampler:
    """CPU seconds (user + system, reaped children included) per group of processes, sampled each
    second, so that a process killed mid-run (chaos) still counts up to its last sample."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.seen: dict[tuple[int, float], dict] = {}
        self.started = False
        self.frozen = False
        self.load: list[tuple[float, float, float]] = []
        self.me = psutil.Process()
        self.driver_base = 0.0
        self.driver_end = 0.0
        self.machine: list = []  # whole-machine CPU times at the window's start and end

    def _groups(self) -> dict[str, list[psutil.Process]]:
        groups: dict[str, list[psutil.Process]] = {}
        for name in ("web", "celery", "redis", "upstream"):
            process = self.stack.procs.get(name)
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(process.pid)
                groups[name] = [root, *root.children(recursive=True)]
        groups["postgres (whole server, shared)"] = [
            p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postmaster")]
        return groups

    def sample(self) -> None:
        if self.frozen:
            return
        for group, processes in self._groups().items():
            for process in processes:
                try:
                    times = process.cpu_times()
                    key = (process.pid, process.create_time())
                except psutil.Error:
                    continue
                value = times.user + times.system + times.children_user + times.children_system
                # Born after the window opened: all of its CPU time is the window's (mark_start resets the rest).
                self.seen.setdefault(key, {"group": group, "base": 0.0})["last"] = value
        self.load.append(os.getloadavg())

    async def sample_every_second(self) -> None:
        """Run as a task during a bench's window (cancel it at the end)."""
        while True:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(self.sample)

    def mark_start(self) -> None:
        self.sample()
        for entry in self.seen.values():
            entry["base"] = entry["last"]
        self.started = True
        self.load = [os.getloadavg()]
        times = self.me.cpu_times()
        self.driver_base = times.user + times.system
        self.machine = [psutil.cpu_times()]

    def mark_end(self) -> None:
        self.sample()
        self.frozen = True
        times = self.me.cpu_times()
        self.driver_end = times.user + times.system
        self.machine.append(psutil.cpu_times())

    def report(self, window: float) -> dict:
        totals: dict[str, float] = collections.defaultdict(float)
        for entry in self.seen.values():
            totals[entry["group"]] += entry.get("last", 0.0) - entry["base"]
        arena = sum(v for k, v in totals.items() if k in ("web", "celery", "redis"))
        cpu = {k: round(v, 2) for k, v in sorted(totals.items())}
        cpu["arena (web + celery + redis)"] = round(arena, 2)
        cpu["driver"] = round(self.driver_end - self.driver_base, 2)
        ones = [load[0] for load in self.load]
        machine = {}
        if len(self.machine) == 2:  # steal: time the hypervisor gave our virtual CPUs to someone else
            spent = {name: getattr(self.machine[1], name) - getattr(self.machine[0], name)
                     for name in ("idle", "iowait", "steal") if hasattr(self.machine[0], name)}
            machine = {f"{name}_cores": round(value / window, 2) for name, value in spent.items()}
            # Busy CPU this bench's processes do not account for: anything else running spoils the figures.
            busy = sum(getattr(self.machine[1], name) - getattr(self.machine[0], name)
                       for name in ("user", "nice", "system", "irq", "softirq") if hasattr(self.machine[0], name))
            ours = sum(totals.values()) + (self.driver_end - self.driver_base)
            machine["other_processes_cores"] = round(max(0.0, busy - ours) / window, 2)
        return {
            "machine_cpu": machine,
            "cpu_seconds": cpu,
            "cpu_share_of_window": {k: round(v / window, 2) for k, v in cpu.items()},
            "load_average": {"start": [round(x, 2) for x in self.load[0]] if self.load else None,
                             "end": [round(x, 2) for x in self.load[-1]] if self.load else None,
                             "max_1m": round(max(ones), 2) if ones else None,
                             "mean_1m": round(sum(ones) / len(ones), 2) if ones else None,
                             "cores": os.cpu_count()},
        }


def speed_index(rounds: int = 5) -> float:
    """Milliseconds for a fixed pure-Python workload (JSON, sorting, a dict), best of ``rounds``, taken
    before the stack starts: benches from different days or machines compare through it (lower = faster)."""
    import json

    rng = random.Random(17)
    data = [{"id": i, "text": "kaixo " * (i % 7), "score": rng.random()} for i in range(20_000)]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        encoded = json.dumps(data)
        decoded = json.loads(encoded)
        decoded.sort(key=lambda row: row["score"])
        index = {row["id"]: row["text"] for row in decoded}
        assert len(index) == len(data)
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


class LoopProbe:
    """The driver's own event-loop lag: if it is high, the driver (not the arena) is the bottleneck."""

    def __init__(self):
        self.samples: list[float] = []
        self.active = False

    async def run(self):
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            if self.active:
                self.samples.append(max(0.0, (time.perf_counter() - before - 0.05) * 1000))


def worker_loop_lag(run_dir: Path, t_start: float, t_end: float) -> dict:
    """ASGI workers' loop-lag samples (config/loop_lag.py) flushed within the window."""
    per_pid: dict[str, list[float]] = {}
    for path in sorted(run_dir.glob("looplag.*")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if t_start <= record["t"] <= t_end + 1.0:
                per_pid.setdefault(str(record["pid"]), []).extend(record["lag_ms"])
    everything = [x for samples in per_pid.values() for x in samples]
    return {**percentiles(everything, (50, 95, 99)),
            "per_worker_p99": {pid: percentiles(samples, (99,)).get("p99") for pid, samples in per_pid.items()}}


LOG_NOISE = re.compile(r"^\[[^\]]*\]\s*|\b[0-9a-f]{8}-[0-9a-f-]{27}\b|\b0x[0-9a-f]+\b|\d+(\.\d+)?")
LOG_LEVEL = re.compile(r"(?:^|[\s\[:])(CRITICAL|ERROR|WARNING)(?=[:/])")  # uvicorn "ERROR:", celery ": ERROR/"
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Closed|Timeout|Refused)\w*)(:.*)?$")


def scan_log(path: Path) -> dict:
    """Warnings, errors and exception lines of a server log, normalised (numbers, ids) and counted."""
    if not path.exists():
        return {}
    counts: collections.Counter = collections.Counter()
    levels: collections.Counter = collections.Counter()
    processed = failed = 0
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        if "Task arena.check_new_votes[" in line:
            processed += " succeeded in " in line
            failed += " raised " in line
        match = LOG_LEVEL.search(line[:80])
        if match:
            level = match.group(1)
            levels[level] += 1
            message = line[match.end():].split("]", 1)[-1] if line.startswith("[") else line[match.end():]
            counts[f"{level}: " + LOG_NOISE.sub("N", message).strip(" :/")[:160]] += 1
        elif line.startswith("Traceback"):
            levels["tracebacks"] += 1
        elif EXCEPTION_LINE.match(line):
            counts["exception: " + LOG_NOISE.sub("N", line)[:160]] += 1
        elif line and not line.startswith(("File ", "^", "~", "During handling", "The above")) and raw[:1] != " ":
            if "error" in line.lower() or "failed" in line.lower():
                counts["other: " + LOG_NOISE.sub("N", line)[:160]] += 1
    out = {"levels": dict(levels), "top": counts.most_common(15)}
    if processed or failed:
        out["check_new_votes"] = {"succeeded": processed, "raised": failed}
    return out


# ---------------------------------------------------------------- the simulated volunteers


@dataclass
class Results:
    t0: float = 0.0  # the window's start (monotonic)
    deadline: float = 0.0
    errors: collections.Counter = field(default_factory=collections.Counter)
    events: list = field(default_factory=list)  # (t, volunteer, kind, detail), the first few hundred
    ttft_ms: list = field(default_factory=list)
    turn_ms: list = field(default_factory=list)
    vote_ms: list = field(default_factory=list)
    login_ms: list = field(default_factory=list)
    accepted: dict = field(default_factory=dict)  # battle id -> (t, volunteer, attempts)
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    chaos: list = field(default_factory=list)

    def error(self, who: int, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        if len(self.events) < 500:
            self.events.append((round(now() - self.t0, 2) if self.t0 else None, who, kind, detail[:200]))

    def stopping(self) -> bool:
        return now() >= self.deadline


class TurnTimeout(Exception):
    pass


class Volunteer:
    def __init__(self, index: int, username: str, stack: Stack, results: Results, args, model_names: list[str]):
        self.index, self.username, self.stack, self.results, self.args = index, username, stack, results, args
        self.model_names = set(model_names)
        self.http: httpx.AsyncClient | None = None
        self.csrf = ""
        self.ws = None
        self.needs_reset = False
        self.current_battle: str | None = None  # the battle on this socket not yet voted or closed
        self.resume_battle: str | None = None  # that battle, after the socket dropped
        self.rng = random.Random(args.seed * 100003 + index)

    # -- log in, as a browser would: the log-in form, then the battle page (its vote form's token)

    async def login(self) -> bool:
        base = self.stack.base
        self.http = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30.0), follow_redirects=False,
                                      headers={"User-Agent": "arena-load-bench"},
                                      limits=httpx.Limits(max_connections=2, max_keepalive_connections=1))
        started = now()
        try:
            page = await self.http.get("/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            if page.status_code != 200 or token is None:
                self.results.error(self.index, f"login_page_http_{page.status_code}")
                return False
            answer = await self.http.post("/login/", data={
                "username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
                headers={"Origin": base, "Referer": f"{base}/login/"})
            if answer.status_code != 302 or "sessionid" not in self.http.cookies:
                self.results.error(self.index, f"login_http_{answer.status_code}")
                return False
            page = await self.http.get("/battle/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            if page.status_code != 200 or token is None:
                self.results.error(self.index, f"battle_page_http_{page.status_code}")
                return False
            self.csrf = token.group(1)
        except httpx.HTTPError as exc:
            self.results.error(self.index, f"login_exc:{type(exc).__name__}", str(exc))
            return False
        self.results.login_ms.append((now() - started) * 1000)
        return True

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
            self.ws = None
        if self.http is not None:
            await self.http.aclose()

    # -- the socket

    async def recv(self, timeout: float) -> dict:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def send(self, frame: dict) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def connect(self) -> None:
        cookies = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        self.ws = await ws_connect(
            f"ws://127.0.0.1:{self.stack.web_port}/ws/battle/", origin=f"http://127.0.0.1:{self.stack.web_port}",
            additional_headers={"Cookie": cookies}, max_size=None, open_timeout=15, ping_interval=None,
            close_timeout=2)
        self.needs_reset = False  # a fresh consumer holds no battle
        if self.resume_battle:
            battle, self.resume_battle = self.resume_battle, None
            await self.resume(battle)

    async def resume(self, battle: str) -> None:
        """As the page does after a reconnect: take the cut battle back, and vote it if it can be."""
        for _ in range(5):
            await self.send({"type": "resume", "battle": battle})
            while True:
                frame = await self.recv(15)
                if frame.get("type") in ("resumed", "error"):
                    break
            if frame["type"] == "resumed":
                self.results.outcomes["resumed"] += 1
                self.needs_reset = True
                if frame.get("can_vote"):
                    self.results.outcomes["resumed_votable"] += 1
                    await self.vote(battle)
                self.current_battle = None
                return
            if frame.get("code") != "battle_busy":
                self.results.error(self.index, f"resume_refused:{frame.get('code')}")
                self.current_battle = None
                return
            await asyncio.sleep(2)
        self.results.error(self.index, "resume_gave_up")
        self.current_battle = None

    async def run(self) -> None:
        backoff = 0.5
        while not self.results.stopping():
            try:
                if self.ws is None:
                    await self.connect()
                await self.battle()
                backoff = 0.5
                if self.args.think > 0:
                    await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.args.think)
            except TurnTimeout as exc:  # the page would show "answering" for ever: reload, resume
                self.results.error(self.index, "turn_timeout", str(exc))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(), 2)
                self.ws = None
            except websockets.exceptions.InvalidStatus as exc:
                self.results.error(self.index, f"ws_refused_http_{exc.response.status_code}")
                self.ws = None
            except websockets.exceptions.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else (exc.sent.code if exc.sent else "1006_no_close_frame")
                self.results.error(self.index, f"ws_closed_{code}", str(exc))
                self.ws = None
            except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake) as exc:
                self.results.error(self.index, f"ws_{type(exc).__name__}", str(exc))
                with contextlib.suppress(Exception):
                    if self.ws is not None:
                        await asyncio.wait_for(self.ws.close(), 2)
                self.ws = None
            if self.ws is None:
                if self.current_battle:
                    self.resume_battle, self.current_battle = self.current_battle, None
                await asyncio.sleep(min(backoff, max(0.0, self.results.deadline - now())))
                backoff = min(backoff * 2, 5.0)

    async def battle(self) -> None:
        if self.needs_reset:
            await self.send({"type": "new_battle"})
            while (await self.recv(30)).get("type") != "reset":
                pass
            self.needs_reset = False
        turns = 2 if self.rng.random() < self.args.second_turn else 1
        for turn in range(turns):
            prompt = self.rng.choice(PROMPTS) if turn == 0 else self.rng.choice(FOLLOW_UPS)
            status = await self.turn(prompt)
            if status != "ready":
                self.needs_reset = True
                self.current_battle = None
                if status == "refused":
                    await asyncio.sleep(1.0)  # a volunteer told to wait does not retry at once
                return
        battle, self.current_battle = self.current_battle, None
        self.needs_reset = True
        if battle:
            await self.vote(battle)

    async def turn(self, prompt: str) -> str:
        """One prompt until ``turn_done``: "ready" (votable), "refused", or the battle's final status."""
        results = self.results
        started = now()
        await self.send({"type": "prompt", "text": prompt})
        accepted = False
        first = None
        limit = started + self.args.turn_timeout
        while True:
            remaining = limit - now()
            if remaining <= 0:
                raise TurnTimeout(f"no turn_done within {self.args.turn_timeout:.0f} s")
            try:
                frame = await self.recv(min(remaining, WS_FRAME_TIMEOUT))
            except asyncio.TimeoutError:
                raise TurnTimeout(f"no frame within {min(remaining, WS_FRAME_TIMEOUT):.0f} s") from None
            kind = frame.get("type")
            if kind == "delta":
                if first is None:
                    first = now() - started
                    results.ttft_ms.append(first * 1000)
            elif kind == "battle":
                self.current_battle = frame.get("battle")
                results.outcomes["battles_started"] += 1
            elif kind == "turn_start":
                accepted = True
                results.outcomes["turns_started"] += 1
            elif kind == "error":
                code = frame.get("code")
                if not accepted:
                    results.error(self.index, f"prompt_refused:{code}", frame.get("message", ""))
                    return "refused"
                results.error(self.index, f"turn_error:{code}", frame.get("message", ""))
            elif kind == "turn_done":
                results.turn_ms.append((now() - started) * 1000)
                status = frame.get("status", "")
                if frame.get("can_vote"):
                    return "ready"
                results.outcomes[f"turn_done_{status}"] += 1
                return status or "not_votable"

    async def vote(self, battle: str) -> None:
        results = self.results
        base = self.stack.base
        choice = {"content": self.rng.choice(CHOICES), "language": self.rng.choice(CHOICES),
                  "overall": self.rng.choice(OVERALL)}
        results.outcomes["votes_sent"] += 1
        for attempt in range(1, self.args.vote_retries + 2):
            started = now()
            try:
                answer = await self.http.post(
                    f"/battle/{battle}/vote/", data={**choice, "csrfmiddlewaretoken": self.csrf},
                    headers={"X-CSRFToken": self.csrf, "Origin": base, "Referer": f"{base}/battle/"})
            except httpx.HTTPError as exc:
                results.error(self.index, f"vote_exc:{type(exc).__name__}", str(exc))
                await asyncio.sleep(0.5 * attempt)
                continue
            try:
                data = orjson.loads(answer.content)
            except orjson.JSONDecodeError:
                data = {}
            if answer.status_code == 200:
                reveal = data.get("reveal") or {}
                names = {reveal.get(side, {}).get("name") for side in ("A", "B")}
                if data.get("status") == "voted" and len(names) == 2 and names <= self.model_names:
                    results.vote_ms.append((now() - started) * 1000)
                    if battle in results.accepted:
                        results.error(self.index, "vote_accepted_twice")
                    results.accepted[battle] = (now(), self.index, attempt)
                    return
                results.error(self.index, "vote_200_without_reveal", answer.text[:200])
                return
            kind = f"vote_http_{answer.status_code}" + (f":{data['error']}" if data.get("error") else "")
            results.error(self.index, kind, answer.text[:200])
            if answer.status_code not in (429, 500, 502, 503, 504):
                return  # refused for good (409 already voted / not ready, 403, 404)
            await asyncio.sleep(0.5 * attempt)
        results.error(self.index, "vote_given_up")


# ---------------------------------------------------------------- the run


async def chaos(stack: Stack, results: Results, args) -> None:
    """Kill the model server and restart it; then kill -9 redis and start it again on its port."""
    def event(what: str) -> None:
        results.chaos.append((round(now() - results.t0, 2), what))

    await asyncio.sleep(max(0.0, results.t0 + 0.35 * args.duration - now()))
    await asyncio.to_thread(stack.kill, "upstream", signal.SIGKILL)
    event("upstream killed (SIGKILL)")
    await asyncio.sleep(args.chaos_upstream_down)
    await asyncio.to_thread(stack.start_upstream)
    event("upstream restarted, answering /health")
    await asyncio.sleep(max(0.0, results.t0 + 0.65 * args.duration - now()))
    await asyncio.to_thread(stack.kill, "redis", signal.SIGKILL)
    event("redis-server killed (SIGKILL)")
    await asyncio.sleep(args.chaos_redis_down)
    await asyncio.to_thread(stack.start_redis)
    event("redis-server restarted on the same port")


async def drive(stack: Stack, args, usernames: list[str], model_names: list[str], sampler: CpuSampler) -> dict:
    results = Results()
    probe = LoopProbe()
    probe_task = asyncio.create_task(probe.run())
    volunteers = [Volunteer(i, name, stack, results, args, model_names) for i, name in enumerate(usernames)]
    gate = asyncio.Semaphore(8)

    async def login(volunteer: Volunteer) -> bool:
        async with gate:
            return await volunteer.login()

    logged = await asyncio.gather(*(login(v) for v in volunteers))
    active = [v for v, ok in zip(volunteers, logged) if ok]
    print(f"load_bench: {len(active)}/{len(volunteers)} volunteers logged in; running {args.duration:.0f} s",
          file=sys.stderr, flush=True)

    await asyncio.to_thread(sampler.mark_start)
    sessions_before = await asyncio.to_thread(pg_sessions)
    results.t0 = now()
    wall_t0 = time.time()
    results.deadline = results.t0 + args.duration
    probe.active = True
    sampling = asyncio.create_task(sampler.sample_every_second())
    chaos_task = asyncio.create_task(chaos(stack, results, args)) if args.chaos else None
    tasks = [asyncio.create_task(v.run()) for v in active]
    done, pending = await asyncio.wait(tasks, timeout=args.duration + args.grace)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            results.error(-1, f"driver_bug:{type(task.exception()).__name__}", repr(task.exception()))
    if pending:
        results.errors["volunteers_cut_after_grace"] += len(pending)
        await asyncio.gather(*pending, return_exceptions=True)
    if chaos_task is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(chaos_task, 60)
    probe.active = False
    sampling.cancel()
    wall_t1 = time.time()
    await asyncio.to_thread(sampler.mark_end)
    sessions_after = await asyncio.to_thread(pg_sessions)
    await asyncio.gather(*(v.close() for v in volunteers), return_exceptions=True)
    probe_task.cancel()
    return {"results": results, "logged_in": len(active), "wall": (wall_t0, wall_t1),
            "driver_loop_lag_ms": percentiles(probe.samples, (50, 99)),
            "pg_sessions": None if None in (sessions_before, sessions_after) else sessions_after - sessions_before}


def check_votes(results: Results, usernames: list[str]) -> dict:
    """VOTES LOST: accepted by the site (HTTP 200 + reveal) but not in the database."""
    from django.db.models import Count

    from arena.models import Battle, Vote, VoteTranscript

    accepted = list(results.accepted)
    rows = {str(row["battle_id"]): row["n"] for row in
            Vote.objects.filter(battle_id__in=accepted).values("battle_id").annotate(n=Count("id"))}
    lost = [b for b in accepted if rows.get(b, 0) == 0]
    duplicates = sum(n - 1 for n in rows.values() if n > 1)
    ours = Vote.objects.filter(participant__user__username__in=usernames)
    stored = ours.count()
    per_battle = ours.values("battle_id").annotate(n=Count("id")).filter(n__gt=1).count()
    not_acknowledged = ours.exclude(battle_id__in=accepted).count()
    not_voted_status = Battle.objects.filter(pk__in=accepted).exclude(status=Battle.Status.VOTED).count()
    without_transcript = ours.exclude(pk__in=VoteTranscript.objects.values("vote_id")).count()
    statuses = {row["status"]: row["n"] for row in Battle.objects.filter(
        participant__user__username__in=usernames).values("status").annotate(n=Count("id"))}
    return {"accepted_by_clients": len(accepted), "rows_for_accepted": sum(rows.values()), "LOST": len(lost),
            "lost_battles": lost[:20], "duplicates": duplicates + per_battle, "stored_total": stored,
            "stored_but_not_acknowledged": not_acknowledged, "accepted_battle_not_voted_status": not_voted_status,
            "votes_without_transcript": without_transcript, "battles_by_status": statuses,
            "accepted_not_checked": Vote.objects.filter(battle_id__in=accepted, checked_at__isnull=True).count()}


def summarise(report: dict) -> str:
    v, lat, errs = report["votes"], report["latency_ms"], report["errors"]
    lines = [
        f"arena load bench — {report['config']['volunteers']} volunteers, {report['window_s']:.0f} s window"
        f"{' (CHAOS)' if report['config']['chaos'] else ''}, {report['config']['web_workers']} ASGI workers",
        f"  votes stored/s (sustained, client-acknowledged): {v['per_second']:.2f}   "
        f"(db rows in window: {v['db_rows_per_second']:.2f}/s; lowest {report['timeline']['bucket_s']:.0f}-s bucket "
        f"{v['min_bucket_per_second']:.2f}/s)",
        f"  VOTES LOST: {v['LOST']}   duplicates: {v['duplicates']}   accepted: {v['accepted_by_clients']}   "
        f"stored but not acknowledged: {v['stored_but_not_acknowledged']}",
        f"  prompt -> first token: p50 {lat['prompt_to_first_token'].get('p50')} ms, "
        f"p95 {lat['prompt_to_first_token'].get('p95')} ms  (n={lat['prompt_to_first_token']['n']})",
        f"  turn: p50 {lat['turn'].get('p50')} ms, p95 {lat['turn'].get('p95')} ms;  vote POST: "
        f"p50 {lat['vote'].get('p50')} ms, p95 {lat['vote'].get('p95')} ms",
        f"  ASGI event-loop lag: p99 {report['loop_lag_ms'].get('p99')} ms, max {report['loop_lag_ms'].get('max')} ms"
        f"  (driver's own loop p99 {report['driver_loop_lag_ms'].get('p99')} ms)",
        f"  errors: {sum(errs.values())} — " + (", ".join(f"{k}={n}" for k, n in errs.most_common(12))
                                              if errs else "none"),
        "  CPU s: " + ", ".join(f"{k} {n}" for k, n in report["cpu_seconds"].items()),
        f"  load average 1m: start {report['load_average']['start'][0] if report['load_average']['start'] else '?'}"
        f", max {report['load_average']['max_1m']}, mean {report['load_average']['mean_1m']} "
        f"on {report['load_average']['cores']} cores",
        f"  celery check_new_votes batches: {report['celery']['check_new_votes']}, accepted votes never checked "
        f"{report['celery']['votes_not_processed']}, backlog at end {report['celery']['backlog_end']}",
        f"  postgres sessions opened: {report['postgres']['sessions_opened']}"
        f" ({report['postgres']['sessions_per_vote']} per vote)",
        f"  orphans: {report['orphans'] or 'none'};  report: {report['report_path']}",
    ]
    if report["chaos"]:
        lines.append("  chaos: " + "; ".join(f"t={t}s {what}" for t, what in report["chaos"]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, seconds")
    parser.add_argument("--volunteers", type=int, default=50, help="simulated volunteers (one socket each)")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between battles, seconds")
    parser.add_argument("--second-turn", type=float, default=0.3, help="share of battles with a second prompt")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn worker processes (>= 2)")
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn --ws (deploy/Procfile's)")
    parser.add_argument("--celery-pool", default="threads", choices=["threads", "solo"])
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--models", type=int, default=2, help="served models registered on the upstream")
    parser.add_argument("--tokens-per-s", type=float, default=50.0, help="upstream speed, per stream")
    parser.add_argument("--answer-tokens", type=int, default=64, help="tokens per answer")
    parser.add_argument("--upstream-ttft-ms", type=float, default=50.0, help="upstream delay before a first token")
    parser.add_argument("--health-interval", type=float, default=5.0, help="beat's model health check, seconds")
    parser.add_argument("--turn-timeout", type=float, default=120.0)
    parser.add_argument("--vote-retries", type=int, default=3, help="retries of a vote after 5xx/network errors")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds battles in flight may finish after")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to let Celery drain before counting")
    parser.add_argument("--chaos", action="store_true", help="kill the upstream and redis mid-run")
    parser.add_argument("--chaos-upstream-down", type=float, default=3.0, help="seconds the upstream stays dead")
    parser.add_argument("--chaos-redis-down", type=float, default=3.0, help="seconds redis stays dead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-db", action="store_true", help="leave the arena_load_bench database for inspection")
    args = parser.parse_args()
    if args.web_workers < 2 or args.models < 2 or args.volunteers < 1:
        parser.error("--web-workers and --models must be >= 2, --volunteers >= 1")
    if not shutil.which("redis-server"):
        parser.error("redis-server is not installed")

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "var" / "bench" / f"load-{stamp}{'-chaos' if args.chaos else ''}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "data").mkdir(exist_ok=True)
    stack = Stack(args, run_dir)

    def on_signal(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    orphans: list[str] = []
    phases: dict[str, float] = {}
    try:
        started = now()
        reset_database()
        migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                                 env=stack.env, capture_output=True, text=True, timeout=600)
        if migrate.returncode != 0:
            raise SystemExit(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
        phases["database_s"] = round(now() - started, 1)
        setup_django(stack)
        from arena.frames import websocket_max_size

        stack.start_redis()
        stack.start_upstream()
        model_names = register_models(stack)
        usernames = create_volunteers(args.volunteers)
        from django.db import connections

        connections.close_all()
        started = now()
        stack.start_web(websocket_max_size())
        stack.start_celery()
        phases["stack_start_s"] = round(now() - started, 1)
        sampler = CpuSampler(stack)
        sampler.sample()
        outcome = asyncio.run(drive(stack, args, usernames, model_names, sampler))
        results: Results = outcome["results"]
        window = args.duration
        settle_until = now() + args.settle
        backlog_end = stack.celery_backlog()
        while now() < settle_until and (stack.celery_backlog() or 0) > 0:
            time.sleep(0.5)
        backlog_settled = stack.celery_backlog()
        votes = check_votes(results, usernames)
        in_window = [t for t, _who, _attempt in results.accepted.values() if t <= results.deadline]
        from arena.models import Vote

        wall_t0, wall_t1 = outcome["wall"]
        db_in_window = Vote.objects.filter(
            participant__user__username__in=usernames,
            created_at__gte=datetime.fromtimestamp(wall_t0, timezone.utc),
            created_at__lte=datetime.fromtimestamp(wall_t0 + window, timezone.utc)).count()
        connections.close_all()
    finally:
        orphans = stack.stop()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            with contextlib.suppress(Exception):
                drop_database()

    bucket = max(1.0, round(window / 12))
    buckets = collections.Counter(int((t - results.t0) // bucket) for t in in_window)
    full = [buckets.get(i, 0) / bucket for i in range(int(window // bucket))]
    votes.update({
        "per_second": round(len(in_window) / window, 3),
        "accepted_in_window": len(in_window),
        "db_rows_per_second": round(db_in_window / window, 3),
        "min_bucket_per_second": round(min(full), 3) if full else 0.0,
        "retried_then_accepted": sum(1 for _t, _w, attempt in results.accepted.values() if attempt > 1),
    })
    web_log = scan_log(run_dir / "web.log")
    celery_log = scan_log(run_dir / "celery.log")
    usage = sampler.report(window)
    report = {
        "config": {**vars(args), "python": sys.version.split()[0], "stack": {
            "web": f"uvicorn --workers {args.web_workers}",
            "celery": f"{args.celery_pool} x{args.celery_concurrency} + beat",
            "database": f"postgresql {DB_NAME}", "redis": f"own redis-server :{stack.redis_port}",
            "upstream": f"bench/fake_upstream.py :{stack.upstream_port}"}},
        "started_at": stamp,
        "setup": phases,
        "window_s": window,
        "logged_in": outcome["logged_in"],
        "votes": votes,
        "timeline": {"bucket_s": bucket, "votes_per_bucket": [buckets.get(i, 0) for i in range(int(window // bucket))]},
        "battles": dict(results.outcomes),
        "latency_ms": {"prompt_to_first_token": percentiles(results.ttft_ms), "turn": percentiles(results.turn_ms),
                       "vote": percentiles(results.vote_ms), "login": percentiles(results.login_ms)},
        "loop_lag_ms": worker_loop_lag(run_dir, *outcome["wall"]),
        "driver_loop_lag_ms": outcome["driver_loop_lag_ms"],
        "errors": results.errors,
        "error_events": results.events[:200],
        "chaos": results.chaos,
        **usage,
        "celery": {"backlog_end": backlog_end, "backlog_after_settle": backlog_settled,
                   "check_new_votes": celery_log.get("check_new_votes", {"succeeded": 0, "raised": 0}),
                   # accepted votes whose quality check never ran (its task was never queued, or lost)
                   "votes_not_processed": votes["accepted_not_checked"]},
        "postgres": {"sessions_opened": outcome["pg_sessions"],
                     "sessions_per_vote": round(outcome["pg_sessions"] / max(1, votes["accepted_by_clients"]), 1)
                     if outcome["pg_sessions"] is not None else None},
        "server_logs": {"web": web_log, "celery": celery_log},
        "orphans": orphans,
        "processes_started": stack.started,
        "report_path": str((run_dir / "report.json").relative_to(ROOT)),
    }
    text = summarise(report)
    report["errors"] = dict(results.errors)
    (run_dir / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (run_dir / "summary.txt").write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    print(text, file=sys.stderr)
    return 1 if votes["LOST"] or votes["duplicates"] or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
