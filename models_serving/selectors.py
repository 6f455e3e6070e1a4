"""Reads of the model registry."""
from __future__ import annotations

from django.db.models import Q, QuerySet

from models_serving.client import Endpoint
from models_serving.models import ModelServer, ServedModel


def available_models() -> QuerySet[ServedModel]:
    """Models a new battle may draw: active, not known to be unhealthy, and with an endpoint to call
    (their own, or their base server's for a LoRA adapter)."""
    reachable = ~Q(endpoint_url="") | (Q(base_model__isnull=False) & ~Q(base_model__endpoint_url=""))
    # No select_related("base_model"): it doubled the columns read (~1.8 ms of every new battle's
    # transaction, docs/relay.md); endpoint_for reads the base of the one or two adapters drawn.
    return ServedModel.objects.filter(is_active=True).filter(reachable).exclude(health=ServedModel.Health.UNHEALTHY)


def endpoint_for(model: ServedModel) -> Endpoint:
    """The OpenAI-compatible endpoint to stream from. A LoRA adapter is reached through its base's server."""
    base_url = model.endpoint_url
    if not base_url and model.base_model_id:
        base_url = model.base_model.endpoint_url
    served_name = model.served_name or model.public_name
    return Endpoint(base_url=base_url.rstrip("/"), served_name=served_name, api_key_env=model.api_key_env)


def models_of(server: ModelServer) -> QuerySet[ServedModel]:
    """The models a server answers for: its base and the adapters it holds (not inactive ones)."""
    return ServedModel.objects.filter(
        Q(pk=server.base_id) | Q(base_model_id=server.base_id, served_name__in=list(server.adapters))
    )


def live_server_of(base_id: int | None) -> ModelServer | None:
    """The server that runs (or is starting) for a base, if any."""
    return ModelServer.objects.filter(base_id=base_id, status__in=[ModelServer.Status.STARTING,
                                                                   ModelServer.Status.RUNNING]).first()
