"""One vLLM server process: its command line, its start-up watch and its log (no real vLLM here)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from models_serving.vllm_process import ServerStartError, VLLMServer, VLLMServerSpec, log_tail
from tests.models_serving.factories import ShortLivedSpec


def test_engine_failure_in_the_log_fails_the_wait_at_once(tmp_path):
    """The API process can outlive a dead engine; the wait must not spin until its timeout."""
    server = VLLMServer(VLLMServerSpec(model="unused", served_name="x"), tmp_path / "server.log")
    server.log_path.write_text("(EngineCore pid=1) ERROR EngineCore failed to start.\n")
    server.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    started = time.monotonic()
    try:
        with pytest.raises(ServerStartError, match="engine failed to start"):
            server.wait_healthy(timeout=20, poll=0.1)
        assert time.monotonic() - started < 5
    finally:
        server.stop()
    assert server.exited()


def test_flags_left_out_come_from_the_serving_settings(settings):
    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "DTYPE": "float32", "MAX_MODEL_LEN": 1024,
                               "EXTRA_ARGS": "--enforce-eager", "RUNTIME_LORA_UPDATING": False}
    spec = VLLMServerSpec(model="/m", served_name="m", port=8001, max_model_len=512)
    command = spec.command()
    assert command[command.index("--dtype") + 1] == "float32"
    assert command[command.index("--max-model-len") + 1] == "512"  # given: wins over the setting
    assert command[-1] == "--enforce-eager" and "--enable-lora" not in command
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" not in spec.environment()


def test_log_tail(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {n}\n" for n in range(50)))
    assert log_tail(log, lines=2) == "line 48\nline 49"
    assert log_tail(tmp_path / "missing.log").startswith("(log not readable: ")


def test_the_supervisor_restarts_a_dead_server_on_its_port_after_a_doubling_backoff(tmp_path, settings):
    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "RESTART_BACKOFF": 5.0, "RESTART_BACKOFF_MAX": 60.0}
    from models_serving.vllm_process import Supervisor

    supervisor = Supervisor(VLLMServer(ShortLivedSpec(model="unused", served_name="x"), tmp_path / "s.log").start())
    port, first_pid = supervisor.server.spec.port, supervisor.server.pid
    try:
        assert supervisor.tick(now=0) == "running"
        supervisor.server.process.wait(timeout=10)
        assert supervisor.tick(now=1) == "died"
        assert supervisor.tick(now=5.9) == "waiting"
        assert supervisor.tick(now=6.0) == "restarted"
        assert supervisor.server.spec.port == port and supervisor.server.pid != first_pid
        supervisor.server.process.wait(timeout=10)
        assert supervisor.tick(now=7) == "died"
        assert supervisor.tick(now=16.9) == "waiting"  # second failure in a row: 10 s
        assert supervisor.tick(now=17) == "restarted"
    finally:
        supervisor.server.stop()
