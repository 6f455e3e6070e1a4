"""Run the serving plan: start, keep, reload or stop vLLM servers so they match the registry.

Servers are started in their own process group and recorded in ``ModelServer`` (pid, port, log,
flags, adapters), so any process on the same host (``serve_models``, a Celery worker, the admin in
eager mode) can stop them later. A file lock keeps two of those from applying a plan at once.
"""
from __future__ import annotations

import fcntl
import logging
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings
from django.utils import timezone

from models_serving import selectors, services
from models_serving.client import Endpoint, EndpointError, ListingError, listed_models
from models_serving.models import ModelServer, ServedModel
from models_serving.plan import ServerPlan, ServingDefaults, desired_servers, restart_backoff, restart_is_due, reuse
from models_serving.text import storable
from models_serving.vllm_process import (
    ServerStartError, VLLMServer, VLLMServerSpec, free_port, log_tail, pid_is_server, port_is_free,
    stop_process_group,
)

logger = logging.getLogger(__name__)

RUNTIME_LOADING_OFF = "the server does not allow loading adapters at run time (HTTP 404)"

# Servers started by this process, by base id: kept so their exit can be noticed and reaped.
_children: dict[int, VLLMServer] = {}


def conf(key: str):
    return settings.MODELS_SERVING[key]


def serving_dir() -> Path:
    return Path(conf("DIR"))


@dataclass
class Action:
    server: str
    what: str  # start | keep | load | unload | restart | stop | failed
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.server}: {self.what}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class ApplyReport:
    actions: list[Action] = field(default_factory=list)
    started: list[int] = field(default_factory=list)  # ModelServer ids started (or restarted)

    def add(self, server: str, what: str, detail: str = "") -> None:
        action = Action(server, what, detail)
        logger.info("serving plan: %s", action)
        self.actions.append(action)

    def lines(self) -> list[str]:
        return [str(action) for action in self.actions]


@contextmanager
def plan_lock(timeout: float = 120.0):
    """Only one process at a time decides and spawns servers on this host."""
    path = serving_dir() / "plan.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError("another process is applying the serving plan")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- process state

def is_alive(record: ModelServer) -> bool:
    """Is the recorded server process still there? Own children by handle, others through /proc or HTTP."""
    handle = _children.get(record.base_id)
    if handle is not None and handle.pid == record.pid:
        return not handle.exited()
    if record.hostname == socket.gethostname():
        return pid_is_server(record.pid, record.port)
    return _get(f"http://{record.host}:{record.port}/health") is None  # another host: ask it


def stop_server(record: ModelServer, reason: str = "") -> None:
    handle = _children.pop(record.base_id, None)
    if handle is not None and handle.pid == record.pid:
        handle.stop()
    elif record.pid and record.hostname == socket.gethostname() and pid_is_server(record.pid, record.port):
        stop_process_group(record.pid)
    record.status = ModelServer.Status.STOPPED
    record.stopped_at = timezone.now()
    record.last_error = reason[:2000]
    record.save(update_fields=["status", "stopped_at", "last_error"])


def stop_all() -> list[str]:
    """Stop every live server recorded, and any child of this process that lost its record."""
    stopped = []
    for record in ModelServer.objects.filter(status__in=[ModelServer.Status.STARTING, ModelServer.Status.RUNNING]):
        stop_server(record, "stopped by serve_models")
        services.mark_servers_models_unhealthy(server=record, error="server stopped")
        stopped.append(record.served_name)
    for base_id, handle in list(_children.items()):
        handle.stop()
        _children.pop(base_id, None)
    return stopped


# ---------------------------------------------------------------- the plan

def apply_plan(defaults: ServingDefaults | None = None, *, wait: bool = True, timeout: float | None = None,
               base_ids: list[int] | None = None, backoff: bool = False) -> ApplyReport:
    """Make the running servers match the registry; with ``wait``, block until new ones answer /health.

    ``base_ids`` limits the work to those bases' servers (the admin's adapter activation). With
    ``backoff`` (the watcher), a server that failed is restarted only once ``restart_is_due``; an
    operator's own ``serve_models`` run restarts it at once."""
    defaults = defaults or ServingDefaults.from_settings()
    report = ApplyReport()
    with plan_lock():
        services.fill_served_names()
        plans = desired_servers(ServedModel.objects.all(), defaults)
        records = {record.base_id: record for record in ModelServer.objects.all()}
        if base_ids is not None:
            plans = [plan for plan in plans if plan.base_id in base_ids]
            records = {pk: record for pk, record in records.items() if pk in base_ids}
        for plan in plans:
            record = records.pop(plan.base_id, None)
            if record is not None and record.is_live:
                decision = reuse(plan, flags=record.flags, loaded=record.adapters, port=record.port,
                                 live=is_alive(record))
                if decision.keep and _sync_adapters(record, plan, decision, report):
                    continue
                reason = decision.restart_reason or "an adapter could not be loaded at run time"
                report.add(plan.served_name, "restart", reason)
                stop_server(record, f"restarting: {reason}")
            elif backoff and record is not None and not restart_is_due(record):
                report.add(plan.served_name, "wait",
                           f"restart after {restart_backoff(record.failures):.0f}s backoff ({record.failures} failed)")
                continue
            _start(plan, record, report)
        for record in records.values():  # bases the plan no longer needs
            if record.is_live:
                stop_server(record, "no longer in the serving plan")
                report.add(record.served_name, "stop", "no active model needs it")
    if wait and report.started:
        wait_until_ready(report.started, timeout=timeout or conf("START_TIMEOUT"), report=report)
    return report


def _start(plan: ServerPlan, record: ModelServer | None, report: ApplyReport) -> ModelServer:
    port = plan.port or (record.port if record is not None and port_is_free(record.port, plan.host) else 0)
    spec = VLLMServerSpec(
        model=plan.model_path, served_name=plan.served_name, port=port or free_port(), host=plan.host,
        dtype=plan.dtype, max_model_len=plan.max_model_len, gpu_memory_utilization=plan.gpu_memory_utilization,
        tensor_parallel_size=plan.tensor_parallel_size, lora_modules=dict(plan.adapters),
        max_loras=plan.max_loras, max_lora_rank=plan.max_lora_rank, extra_args=list(plan.extra_args),
        runtime_lora_updating=plan.runtime_lora_updating, cpu_kvcache_gib=plan.cpu_kvcache_gib,
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    log_path = serving_dir() / "logs" / f"{plan.served_name}-{stamp}.log"
    record = record or ModelServer(base_id=plan.base_id)
    record.served_name = plan.served_name
    record.hostname = socket.gethostname()
    record.host = plan.host
    record.flags = plan.flags()
    record.adapters = dict(plan.adapters)
    record.log_path = str(log_path)
    record.started_at = timezone.now()
    record.ready_at = record.stopped_at = record.start_seconds = None
    try:
        server = VLLMServer(spec, log_path).start()
    except (ServerStartError, OSError) as exc:
        record.port, record.pid, record.status, record.last_error = spec.port, None, ModelServer.Status.FAILED, str(exc)
        record.stopped_at, record.failures = timezone.now(), record.failures + 1
        record.save()
        services.point_models_at(server=record, plan=plan)
        services.mark_servers_models_unhealthy(server=record, error=f"server could not start: {exc}")
        report.add(plan.served_name, "failed", str(exc))
        return record
    _children[plan.base_id] = server
    record.port, record.pid, record.status, record.last_error = spec.port, server.pid, ModelServer.Status.STARTING, ""
    record.save()
    # Point the registry at the new endpoint now, but keep the models out of battles until it answers.
    services.point_models_at(server=record, plan=plan)
    services.mark_servers_models_unhealthy(server=record, error="server starting")
    report.add(plan.served_name, "start", f"port {spec.port}, adapters: {', '.join(dict(plan.adapters)) or 'none'}")
    report.started.append(record.pk)
    return record


def _sync_adapters(record: ModelServer, plan: ServerPlan, decision, report: ApplyReport) -> bool:
    """Load/unload adapters on a live server; False when a load failed and a restart is needed."""
    root = f"http://{record.host}:{record.port}"
    loaded = dict(record.adapters)
    for name in decision.to_unload:
        error = _post(f"{root}/v1/unload_lora_adapter", {"lora_name": name})
        loaded.pop(name, None)  # even on error: a restart would drop it anyway
        report.add(plan.served_name, "unload", name + (f" ({error})" if error else ""))
    ids = dict(zip(dict(plan.adapters), plan.adapter_ids))
    for name, path in decision.to_load:
        started = time.monotonic()
        error = _post(f"{root}/v1/load_lora_adapter",
                      {"lora_name": name, "lora_path": path, "load_inplace": name in loaded})
        if error == RUNTIME_LOADING_OFF:
            record.adapters = loaded
            record.save(update_fields=["adapters"])
            report.add(plan.served_name, "failed", f"loading {name} at run time: {error}")
            return False
        if error:
            # A broken adapter must not take its base's server down with a restart: only it is out.
            services.mark_unhealthy(ids[name], f"adapter could not be loaded: {error}")
            report.add(plan.served_name, "failed", f"loading {name}: {error}")
            continue
        loaded[name] = path
        report.add(plan.served_name, "load", f"{name} loaded at run time in {time.monotonic() - started:.1f}s")
    record.adapters = loaded
    record.save(update_fields=["adapters"])
    services.point_models_at(server=record, plan=plan)
    if decision.to_load and record.status == ModelServer.Status.RUNNING:
        # The server already answers: adapters it now lists are ready for battles at once.
        listed = _listed_names(f"{root}/v1")
        for model in ServedModel.objects.filter(pk__in=plan.adapter_ids):
            if model.served_name in listed and model.served_name in loaded:
                services.mark_healthy(model_id=model.pk)
    if not decision.to_load and not decision.to_unload:
        report.add(plan.served_name, "keep", f"port {record.port}")
    return True


def wait_until_ready(record_ids: list[int], *, timeout: float, report: ApplyReport | None = None) -> None:
    """Block until each started server answers /health (then mark its models healthy) or fails."""
    deadline = time.monotonic() + timeout
    pending = set(record_ids)
    while pending:
        for record in ModelServer.objects.filter(pk__in=pending):
            state = refresh(record)
            if state != ModelServer.Status.STARTING:
                pending.discard(record.pk)
                if report is not None:
                    detail = (f"ready in {record.start_seconds:.0f}s" if state == ModelServer.Status.RUNNING
                              else record.last_error.splitlines()[0] if record.last_error else "")
                    report.add(record.served_name, state, detail)
        if pending and time.monotonic() > deadline:
            for record in ModelServer.objects.filter(pk__in=pending):
                stop_server(record, f"not healthy after {timeout:.0f}s")
                record.status, record.failures = ModelServer.Status.FAILED, record.failures + 1
                record.save(update_fields=["status", "failures"])
                services.mark_servers_models_unhealthy(server=record,
                                                       error=f"server not healthy after {timeout:.0f}s")
                if report is not None:
                    report.add(record.served_name, "failed", f"not healthy after {timeout:.0f}s")
            return
        if pending:
            time.sleep(1.0)


def refresh(record: ModelServer) -> str:
    """Update a live record from reality: starting -> running when /health answers, -> failed if it died."""
    if not record.is_live:
        return record.status
    root = f"http://{record.host}:{record.port}"
    if not is_alive(record):
        _children.pop(record.base_id, None)
        tail = log_tail(record.log_path)
        record.status = ModelServer.Status.FAILED
        record.stopped_at = timezone.now()
        record.failures += 1
        record.last_error = storable(f"server process exited:\n{tail}")[:4000]  # the process's own output
        record.save(update_fields=["status", "stopped_at", "last_error", "failures"])
        services.mark_servers_models_unhealthy(server=record, error="server process exited")
        return record.status
    if record.status == ModelServer.Status.STARTING and _get(f"{root}/health") is None:
        record.status = ModelServer.Status.RUNNING
        record.ready_at = timezone.now()
        record.start_seconds = (record.ready_at - record.started_at).total_seconds()
        record.failures = 0
        record.save(update_fields=["status", "ready_at", "start_seconds", "failures"])
        listed = _listed_names(f"{root}/v1")
        for model in selectors.models_of(record):
            if model.served_name in listed:
                services.mark_healthy(model_id=model.pk)
            else:
                services.mark_unhealthy(model.pk, f"{model.served_name} is not listed by /v1/models")
    return record.status


# ---------------------------------------------------------------- HTTP helpers

def _get(url: str, timeout: float = 3.0) -> str | None:
    """None when the URL answers 200, else a short error."""
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


def _post(url: str, payload: dict, timeout: float = 120.0) -> str | None:
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    if response.status_code == 200:
        return None
    if response.status_code == 404:
        return RUNTIME_LOADING_OFF
    return f"HTTP {response.status_code}: {response.text[:300]}"


def _listed_names(base_url: str) -> set[str]:
    """What a server of ours lists now; nothing when it cannot tell (the health check retries)."""
    try:
        return listed_models(Endpoint(base_url=base_url, served_name=""))
    except (EndpointError, ListingError):
        return set()
