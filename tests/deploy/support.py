"""Helpers for the deployment tests: a database and environment of the test's own, the stack's processes
(found by a marker in their environment, so a double-forked or re-parented one is found too), a
volunteer who logs in over HTTP and battles over the WebSocket, and which worker process serves a socket.

The stack runs with the production settings (``config.settings.prod``): its cookies are ``Secure`` and
it redirects plain HTTP, so a client that talks to it without TLS plays the HTTPS proxy's part and
sends ``X-Forwarded-Proto: https`` (uvicorn trusts it from 127.0.0.1), and keeps the cookies itself.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[2]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PASSWORD = "Mendia-Deploy-2026"
MARKER = "ARENA_DEPLOY_TEST_MARKER"


# ---------------------------------------------------------------- database and environment

def create_database(name: str) -> str:
    import psycopg

    assert name.startswith("arena_") and not name.startswith("test"), name  # never CI's databases
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception):
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stack_env(marker: str, **values: str) -> dict:
    """The environment of a stack: the test's own minus every setting of the site, plus ``values``.

    The venv is the one running the tests; ``marker`` tags every process the stack starts."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "ARENA_", "DJANGO_", "CHANNELS_"))}
    env.update({
        "ARENA_VENV": sys.prefix,
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "DJANGO_SECRET_KEY": "deploy-test-" + uuid.uuid4().hex * 2,
        "ARENA_EXPORT_SALT": "deploy-test-salt-" + uuid.uuid4().hex,
        "DJANGO_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        MARKER: marker,
        **values,
    })
    return env


# ---------------------------------------------------------------- processes

def marked_processes(marker: str) -> list[psutil.Process]:
    """Every live process (not a zombie) whose environment carries ``MARKER=marker``."""
    found = []
    for process in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(MARKER) == marker:
                found.append(process)
    return found


def describe(processes: list[psutil.Process]) -> list[str]:
    out = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            out.append(f"{process.pid} {' '.join(process.cmdline())[:160]}")
    return out


def wait_no_processes(marker: str, seconds: float) -> list[str]:
    """The processes still carrying ``marker`` after up to ``seconds`` (an empty list: none left)."""
    deadline = time.monotonic() + seconds
    while True:
        left = marked_processes(marker)
        if not left or time.monotonic() > deadline:
            return describe(left)
        time.sleep(0.2)


def snapshot(marker: str) -> dict[tuple[int, float], str]:
    """The stack's processes now, and their descendants (a process that rewrote its environment, as
    nginx does for its title, is still found as a child): (pid, start time) -> command line."""
    found = {}
    for process in marked_processes(marker):
        with contextlib.suppress(psutil.Error):
            for each in [process, *process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    found[(each.pid, each.create_time())] = " ".join(each.cmdline())[:160]
    return found


def still_alive(seen: dict[tuple[int, float], str]) -> list[str]:
    """Those of ``seen`` still running (the same pid and start time, not a zombie)."""
    alive = []
    for (pid, created), command in seen.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {command}")
    return alive


def kill_marked(marker: str) -> None:
    """Clean-up after a failed test: SIGKILL whatever of the stack is left."""
    for process in marked_processes(marker):
        with contextlib.suppress(psutil.Error):
            process.kill()


@dataclass
class Launched:
    """A command run in its own session (as a service manager would), its output in ``log``."""

    argv: list[str]
    env: dict
    log: Path
    cwd: Path = ROOT
    process: subprocess.Popen | None = None

    def start(self) -> "Launched":
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def wait_for_line(self, needle, seconds: float) -> None:
        """Until the output holds ``needle`` (a regular expression if it is a compiled pattern)."""
        deadline = time.monotonic() + seconds
        found = needle.search if isinstance(needle, re.Pattern) else (lambda text: needle in text)
        while not found(self.text()):
            if self.process.poll() is not None:
                raise AssertionError(f"{self.argv} exited ({self.process.returncode}) before {needle!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} after {seconds:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def terminate(self, seconds: float) -> int:
        """SIGTERM to the command itself only (not its group): it must stop what it started."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.argv} still running {seconds:.0f} s after SIGTERM:\n{self.tail()}")


def wait_http(url: str, seconds: float, what: str, launched: Launched | None = None, **request) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(url, timeout=2, **request)
            if answer.status_code < 500:
                return answer
        if launched is not None and launched.process.poll() is not None:
            raise AssertionError(f"{what} exited ({launched.process.returncode}):\n{launched.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not answer {url} within {seconds:.0f} s"
                                 + (f":\n{launched.tail()}" if launched else ""))
        time.sleep(0.2)


def serving_process(marker: str, port: int, client_address: tuple) -> psutil.Process | None:
    """The process of the stack that holds the server side of the TCP connection from ``client_address``
    to ``port``: with several ASGI workers on one listening socket, the worker that accepted it."""
    for process in marked_processes(marker):
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections(kind="tcp"):
                if conn.laddr and conn.laddr.port == port and conn.raddr and \
                        (conn.raddr.ip, conn.raddr.port) == tuple(client_address[:2]):
                    return process
    return None


# ---------------------------------------------------------------- the site's data, through its own code

SETUP_SCRIPT = r"""
import json, sys
import django
django.setup()
from arena import selectors, services
from models_serving import services as serving
from models_serving.models import ServedModel
args = json.loads(sys.argv[1])
services.register_participant(username=args["username"], email=args["username"] + "@example.org",
                              password=args["password"], profile={"basque_level": "C1-C2", "education": "university"},
                              consent=selectors.active_consent(), language="eu")
health = {}
for public, served in args["models"]:
    model = serving.register_model(public_name=public, kind=ServedModel.Kind.EXTERNAL,
                                   endpoint_url=args["endpoint"], served_name=served)
    health[public] = [model.health, model.last_error]
print("SETUP " + json.dumps(health))
"""


def register_volunteer_and_models(env: dict, username: str, endpoint: str, models: list[tuple[str, str]]) -> dict:
    """A volunteer with a participant profile, and external models registered through
    ``models_serving.services.register_model`` (which checks ``/v1/models``), in the stack's database."""
    done = subprocess.run([sys.executable, "-c", SETUP_SCRIPT,
                           json.dumps({"username": username, "password": PASSWORD, "endpoint": endpoint,
                                       "models": models})],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    line = next((l for l in done.stdout.splitlines() if l.startswith("SETUP ")), None)
    assert done.returncode == 0 and line, f"setup failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(line[len("SETUP "):])


# ---------------------------------------------------------------- a volunteer

@dataclass
class Volunteer:
    """Logs in over HTTP like a browser and battles over the WebSocket.

    ``base``: the site as the client reaches it (http://127.0.0.1:PORT straight to uvicorn, or the
    balancer's https://...). ``public``: the origin the site believes it is served on (https://...);
    over plain HTTP the client sends ``X-Forwarded-Proto: https`` as the proxy would."""

    base: str
    username: str
    verify: bool = True
    cookies: dict = field(default_factory=dict)

    @property
    def public(self) -> str:
        return "https://" + self.base.split("://", 1)[1]

    @property
    def proxied(self) -> bool:
        return self.base.startswith("http://")

    def headers(self, **extra) -> dict:
        headers = dict(extra)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.proxied:
            headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
        return headers

    def _keep(self, answer: httpx.Response) -> httpx.Response:
        for header in answer.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return answer

    def get(self, path: str) -> httpx.Response:
        return self._keep(httpx.get(self.base + path, headers=self.headers(), verify=self.verify, timeout=30))

    def post(self, path: str, data: dict, **headers) -> httpx.Response:
        return self._keep(httpx.post(self.base + path, data=data, verify=self.verify, timeout=30,
                                     headers=self.headers(Origin=self.public, Referer=self.public + path, **headers)))

    def login(self) -> None:
        page = self.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert page.status_code == 200 and token, (page.status_code, page.text[:300])
        answer = self.post("/login/", {"username": self.username, "password": PASSWORD,
                                       "csrfmiddlewaretoken": token.group(1)})
        assert answer.status_code == 302 and "sessionid" in self.cookies, (answer.status_code, answer.text[:300])
        battle_page = self.get("/battle/")
        assert battle_page.status_code == 200, battle_page.status_code

    def vote(self, battle_id: str) -> dict:
        answer = self.post(f"/battle/{battle_id}/vote/", {"content": "A", "language": "B", "overall": "tie"},
                           **{"X-CSRFToken": self.cookies["csrftoken"]})
        assert answer.status_code == 200, (answer.status_code, answer.text[:300])
        return answer.json()

    def socket(self):
        """An open battle WebSocket (an async context manager)."""
        url = self.base.replace("http", "ws", 1) + "/ws/battle/"
        context = None
        if url.startswith("wss://") and not self.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return ws_connect(url, origin=self.public, additional_headers=self.headers(), proxy=None, ssl=context,
                          open_timeout=20, max_size=2 ** 22)


async def frame(ws, seconds: float = 30.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), seconds))


async def run_turn(ws, text: str) -> dict:
    """Send a prompt; read frames until ``turn_done``. Returns the battle id (if a new battle began),
    each side's streamed text and the ``turn_done`` frame."""
    await ws.send(json.dumps({"type": "prompt", "text": text}))
    battle, texts = None, {"A": "", "B": ""}
    while True:
        message = await frame(ws)
        kind = message["type"]
        if kind == "battle":
            battle = message["battle"]
        elif kind == "delta":
            texts[message["side"]] += message["text"]
        elif kind == "error":
            raise AssertionError(f"error frame: {message}")
        elif kind == "turn_done":
            return {"battle": battle, "texts": texts, "done": message}


class Phases(dict):
    """Seconds since creation at which each named phase of a test ended (printed with its logs)."""

    def __init__(self):
        super().__init__()
        self._started = time.monotonic()

    def mark(self, phase: str) -> None:
        self[phase] = round(time.monotonic() - self._started, 1)
