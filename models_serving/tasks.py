"""Celery tasks: the periodic health check and the admin's "apply serving plan".

Beat runs ``models_serving.check_health`` every ``settings.HEALTH_CHECK_INTERVAL`` seconds when a
broker is configured. Without one (eager mode) there is no beat: ``serve_models --watch`` runs the
same check in its loop.
"""
from __future__ import annotations

from typing import Any

from celery import Task, shared_task


def run(task: Task, **kwargs) -> Any | None:
    """Run a task: its result when it ran in-process (eager, no broker), None when queued to a worker."""
    result = task.delay(**kwargs)
    return result.get() if result.ready() else None


@shared_task(name="models_serving.check_health")
def check_health() -> dict:
    from models_serving import health

    results = health.check_all()
    return {"healthy": sum(r.healthy for r in results), "unhealthy": [r.public_name for r in results if not r.healthy]}


@shared_task(name="models_serving.apply_serving_plan")
def apply_serving_plan(wait: bool = False, base_ids: list[int] | None = None) -> list[str]:
    """Start/stop/reload servers to match the registry. Without ``wait`` it returns once processes are
    spawned and adapters loaded; the health check marks new servers healthy when they answer."""
    from models_serving import launcher

    return launcher.apply_plan(wait=wait, base_ids=base_ids).lines()
