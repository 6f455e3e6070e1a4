"""Writes to the model registry: registration, health and where models are served.

Registration has one path, ``save_model`` (``register_model`` builds a new entry for it): the
admin, ``python -m training register`` and code all go through it, so every new vLLM model is held
out of battles until its server answers for it.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import transaction
from django.utils import timezone

from models_serving import selectors, tasks, validation
from models_serving.models import ModelServer, ServedModel
from models_serving.plan import ServerPlan, served_name_for

WAITING_FOR_SERVER = "waiting for its vLLM server"
# Edits that change what a vLLM model's server must serve: held out until the server lists it again.
SERVING_FIELDS = frozenset({"is_active", "checkpoint_path", "served_name", "base_model"})
# Edits of an external endpoint that the checks just verified by reaching it.
ENDPOINT_FIELDS = frozenset({"endpoint_url", "served_name", "api_key_env"})


@transaction.atomic
def register_model(*, public_name: str, kind: str, checkpoint_path: str = "", base_model: ServedModel | None = None,
                   endpoint_url: str = "", served_name: str = "", api_key_env: str = "", is_active: bool = True,
                   **details: Any) -> ServedModel:
    """Add a model to the registry; ValidationError (by field) when it cannot be served as given.

    ``base_model``: a LoRA adapter's base, found from its adapter config when None. ``served_name``:
    a slug of ``public_name`` when empty (vLLM kinds). ``details``: any other ServedModel field
    (description, system prompt, sampling, provenance, server flags)."""
    model = ServedModel(public_name=public_name, kind=kind, checkpoint_path=checkpoint_path, base_model=base_model,
                        endpoint_url=endpoint_url, served_name=served_name, api_key_env=api_key_env,
                        is_active=is_active, **details)
    return save_model(model=model)


@transaction.atomic
def save_model(*, model: ServedModel, changed: Collection[str] = ()) -> ServedModel:
    """Check and store a new entry, or an edited one (``changed``: the names of the fields edited).

    A vLLM model that is new, re-pointed or (de)activated is marked unhealthy until its server lists
    it (the launcher and the health check mark it healthy then); an external endpoint the checks just
    reached is healthy."""
    new = model.pk is None
    validation.check_model(model)
    model.full_clean()
    if model.kind == ServedModel.Kind.VLLM_LORA and not model.endpoint_url:
        model.endpoint_url = model.base_model.endpoint_url  # one vLLM server serves a base and its adapters
    if model.kind == ServedModel.Kind.EXTERNAL:
        if new or ENDPOINT_FIELDS & set(changed):
            model.health, model.last_error = ServedModel.Health.HEALTHY, ""
    elif new or SERVING_FIELDS & set(changed):
        model.health, model.last_error = ServedModel.Health.UNHEALTHY, WAITING_FOR_SERVER
    model.save()
    return model


def apply_to_live_server(*, adapter: ServedModel) -> list[str] | None:
    """Load, reload or unload a LoRA adapter on its base's live server now, restarting the server only
    when it cannot do that at run time.

    Returns the launcher's lines; [] when no server runs the base yet (``serve_models`` starts it);
    None when the work was queued to a Celery worker. Not atomic: the serving task commits its own
    writes, and a worker must see the registered adapter."""
    if selectors.live_server_of(adapter.base_model_id) is None:
        return []
    return tasks.run(tasks.apply_serving_plan, wait=False, base_ids=[adapter.base_model_id])


@transaction.atomic
def mark_unhealthy(model_id: int, error: str) -> None:
    """Take a model out of new battles at once; the health check brings it back."""
    ServedModel.objects.filter(pk=model_id).update(
        health=ServedModel.Health.UNHEALTHY, last_error=error[:2000], last_health_check=timezone.now()
    )


@transaction.atomic
def mark_healthy(*, model_id: int) -> None:
    ServedModel.objects.filter(pk=model_id).update(
        health=ServedModel.Health.HEALTHY, last_error="", last_health_check=timezone.now()
    )


@transaction.atomic
def fill_served_names() -> None:
    """Give vLLM models stored without the registration service (fixtures, benchmarks) the served
    name it would have given them. Stored, not computed, because ``selectors.endpoint_for`` reads it."""
    for model in ServedModel.objects.filter(kind__in=validation.VLLM_KINDS, served_name=""):
        ServedModel.objects.filter(pk=model.pk).update(served_name=served_name_for(model))


@transaction.atomic
def point_models_at(*, server: ModelServer, plan: ServerPlan) -> None:
    """Record the server's /v1 URL on its base and every adapter it serves."""
    ServedModel.objects.filter(pk__in=[server.base_id, *plan.adapter_ids]).update(endpoint_url=server.base_url)


@transaction.atomic
def mark_servers_models_unhealthy(*, server: ModelServer, error: str) -> None:
    for model_id in selectors.models_of(server).values_list("pk", flat=True):
        mark_unhealthy(model_id, error)
