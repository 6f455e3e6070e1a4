"""Celery tasks: the periodic health check and the admin's "apply serving plan".

Beat runs ``models_serving.check_health`` every 30 s when a broker is configured. Without one
(eager mode) there is no beat: ``serve_models --watch`` runs the same check in its loop.
"""
from __future__ import annotations

from celery import shared_task


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
