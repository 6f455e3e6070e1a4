"""Writes to the model registry."""
from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from models_serving.models import ModelServer, ServedModel


def mark_unhealthy(model_id: int, error: str) -> None:
    """Take a model out of new battles at once; the health check brings it back."""
    ServedModel.objects.filter(pk=model_id).update(
        health=ServedModel.Health.UNHEALTHY, last_error=error[:2000], last_health_check=timezone.now()
    )


def mark_healthy(model_id: int) -> None:
    ServedModel.objects.filter(pk=model_id).update(
        health=ServedModel.Health.HEALTHY, last_error="", last_health_check=timezone.now()
    )


def fill_served_names() -> None:
    """vLLM models answer to a served name: give a slug of the public name to those without one.

    Stored (not computed on the fly) because the arena's endpoint_for() reads ``served_name``.
    """
    from models_serving.plan import served_name_for

    for model in ServedModel.objects.filter(kind__in=[ServedModel.Kind.VLLM_BASE, ServedModel.Kind.VLLM_LORA],
                                            served_name=""):
        ServedModel.objects.filter(pk=model.pk).update(served_name=served_name_for(model))


def models_of(server: ModelServer):
    """The models a server answers for: its base and the adapters it holds (not inactive ones)."""
    return ServedModel.objects.filter(
        Q(pk=server.base_id) | Q(base_model_id=server.base_id, served_name__in=list(server.adapters))
    )


def point_models_at(server: ModelServer, plan) -> None:
    """Record the server's /v1 URL on its base and every adapter it serves."""
    ids = [server.base_id, *plan.adapter_ids]
    ServedModel.objects.filter(pk__in=ids).update(endpoint_url=server.base_url)


def mark_servers_models_unhealthy(server: ModelServer, error: str) -> None:
    for model_id in models_of(server).values_list("pk", flat=True):
        mark_unhealthy(model_id, error)
