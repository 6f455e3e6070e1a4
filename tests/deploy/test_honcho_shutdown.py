"""honcho as the stack's process runner: SIGTERM reaches every process, and honcho waits long enough
for ``serve_models --watch`` to stop its vLLM servers (deploy/run_honcho.py).

No vLLM here: a stand-in plays ``serve_models --watch``. It starts a child in a session of its own
(as each vLLM server is) and, on SIGTERM, takes a few seconds to stop it before exiting, while the
other Procfile process exits at once. honcho's own wait (5 s after the first process exits, then
SIGKILL) would cut it short and leave the child running; run_honcho.py's does not.
"""
from __future__ import annotations

import os
import signal
import sys
import uuid

import psutil
import pytest

from tests.deploy import support

pytestmark = pytest.mark.slow

STAND_IN = """
import os, signal, subprocess, sys, time
# A vLLM server: its own group, its output to its own log (the launcher does the same).
server = subprocess.Popen(["sleep", "300"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(sys.argv[1], "w").write(str(server.pid))

def stop(*_):
    time.sleep(float(sys.argv[2]))  # stopping a vLLM server takes a while
    os.killpg(server.pid, signal.SIGTERM)
    server.wait()
    print("stand-in: server stopped", flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
print("stand-in: ready", flush=True)
while True:
    time.sleep(1)
"""


def run(tmp_path, runner: list[str], stop_seconds: float) -> tuple[support.Launched, int, str]:
    folder = tmp_path / ("run_honcho" if runner[-1].endswith(".py") else "honcho")
    folder.mkdir()
    (folder / "stand_in.py").write_text(STAND_IN)
    (folder / "Procfile").write_text(
        "fast: exec sleep 300\n"
        f"models: exec {sys.executable} stand_in.py server.pid {stop_seconds}\n")
    marker = uuid.uuid4().hex
    honcho = support.Launched(
        [sys.executable, *runner, "start", "--procfile", "Procfile", "--app-root", str(folder), "--env", "/dev/null",
         "--no-colour"], support.stack_env(marker, ARENA_STOP_TIMEOUT="30"), folder / "honcho.log", cwd=folder).start()
    honcho.wait_for_line("stand-in: ready", 60)
    server_pid = int((folder / "server.pid").read_text())
    return honcho, server_pid, marker


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_run_honcho_forwards_sigterm_and_waits_for_the_servers_to_stop(tmp_path):
    honcho, server, marker = run(tmp_path, [str(support.ROOT / "deploy" / "run_honcho.py")], stop_seconds=7)
    try:
        assert honcho.terminate(60) == 143
        log = honcho.text()
        assert "sending SIGTERM to fast.1" in log and "sending SIGTERM to models.1" in log
        assert "stand-in: server stopped" in log and "models.1 stopped (rc=0)" in log
        assert "SIGKILL" not in log
        assert not alive(server)
        assert support.wait_no_processes(marker, 5) == []
    finally:
        if alive(server):
            os.kill(server, signal.SIGKILL)
        support.kill_marked(marker)


def test_plain_honcho_would_kill_serve_models_before_its_servers_stop(tmp_path):
    """Why deploy/run_honcho.py exists: honcho's 5 s wait. If this starts failing, honcho waits
    longer by itself and run_honcho.py may go."""
    honcho, server, marker = run(tmp_path, ["-m", "honcho"], stop_seconds=7)
    try:
        assert honcho.terminate(60) == 143
        assert "sending SIGKILL to models.1" in honcho.text()
        assert alive(server), "the stand-in's server should have been left running"
    finally:
        if alive(server):
            os.kill(server, signal.SIGKILL)
        support.kill_marked(marker)
