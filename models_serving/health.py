"""Health checks of every active endpoint: ``/health`` (vLLM servers) and ``/v1/models`` listing the name.

A failing model is marked unhealthy, which takes it out of new battles at once
(``selectors.available_models``); the next passing check brings it back.
"""
from __future__ import annotations

from dataclasses import dataclass

import httpx

from models_serving import launcher, services
from models_serving.client import Endpoint, EndpointError, ListingError, listed_models
from models_serving.models import ModelServer, ServedModel
from models_serving.selectors import endpoint_for


@dataclass
class HealthResult:
    model_id: int
    public_name: str
    healthy: bool
    error: str = ""


def probe(endpoint: Endpoint, *, check_root: bool, timeout: float = 5.0) -> tuple[str, set[str]]:
    """('' or an error, names listed by /v1/models) for one OpenAI-compatible base URL."""
    if not endpoint.base_url:
        return "no endpoint URL yet (is serve_models running?)", set()
    try:
        if check_root:  # a vLLM server of ours: /health fails while the engine is down
            response = httpx.get(f"{endpoint.base_url.removesuffix('/v1')}/health", timeout=timeout)
            if response.status_code != 200:
                return f"/health answered HTTP {response.status_code}", set()
        return "", listed_models(endpoint, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"unreachable: {type(exc).__name__}: {exc}"[:500], set()
    except (EndpointError, ListingError) as exc:
        return str(exc), set()


def check_all(timeout: float = 5.0) -> list[HealthResult]:
    """Refresh the recorded servers, then check every active model (one probe per endpoint)."""
    starting = set()
    for server in ModelServer.objects.filter(status__in=[ModelServer.Status.STARTING, ModelServer.Status.RUNNING]):
        if launcher.refresh(server) == ModelServer.Status.STARTING:
            starting.add(server.base_url)
    probes: dict[tuple[str, str, bool], tuple[str, set[str]]] = {}
    results = []
    for model in ServedModel.objects.filter(is_active=True).select_related("base_model"):
        endpoint = endpoint_for(model)
        is_vllm = model.kind != ServedModel.Kind.EXTERNAL
        key = (endpoint.base_url, endpoint.api_key_env, is_vllm)
        if key not in probes:
            probes[key] = probe(endpoint, check_root=is_vllm, timeout=timeout)
        error, listed = probes[key]
        if error and endpoint.base_url in starting:
            error = "server starting"
        elif not error and endpoint.served_name not in listed:
            error = f"/v1/models does not list {endpoint.served_name!r}"
        if error:
            services.mark_unhealthy(model.pk, error)
        else:
            services.mark_healthy(model_id=model.pk)
        results.append(HealthResult(model.pk, model.public_name, not error, error))
    return results
