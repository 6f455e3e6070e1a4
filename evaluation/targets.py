"""What a run evaluates: a checkpoint in-process, or a model behind an OpenAI-compatible endpoint.

``--model`` is either a checkpoint folder (no Django needed) or an arena public name, resolved
through ``models_serving.ServedModel`` (endpoint + the checkpoint's tokenizer; a LoRA adapter uses
its base's tokenizer, and in-process its base weights plus the adapter). ``check_endpoint`` is the
pre-flight check of an endpoint target, so a run fails before any work with a message to act on.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from .errors import EvaluationError

BACKENDS = ("auto", "endpoint", "hf")


@dataclass(frozen=True)
class Target:
    label: str  # what the researcher named: public name or checkpoint path
    backend: str  # "endpoint" (vLLM / OpenAI-compatible) or "hf" (transformers in-process)
    pretrained: str = ""  # hf: weights folder (the base, for a LoRA adapter)
    peft: str = ""  # hf: LoRA adapter folder
    tokenizer: str = ""  # endpoint: tokenizer folder, needed for log-likelihood context lengths
    base_url: str = ""  # endpoint: ".../v1"
    served_name: str = ""
    api_key_env: str = ""
    served_model_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _check_checkpoint(path: Path, what: str) -> None:
    if not path.is_dir():
        raise EvaluationError(f"{what} {path} is not a folder")
    if not ((path / "config.json").exists() or (path / "adapter_config.json").exists()):
        raise EvaluationError(f"{what} {path} has no config.json or adapter_config.json")


def target_for_checkpoint(path: str, backend: str = "auto", *, base_url: str = "", served_name: str = "",
                          tokenizer: str = "", api_key_env: str = "") -> Target:
    folder = Path(path).expanduser().resolve()
    _check_checkpoint(folder, "checkpoint")
    if backend == "endpoint" or (backend == "auto" and base_url):
        if not base_url:
            raise EvaluationError("--backend endpoint with a checkpoint path needs --base-url (…/v1)")
        return Target(label=path, backend="endpoint", tokenizer=tokenizer or str(folder),
                      base_url=base_url.rstrip("/"), served_name=served_name or path, api_key_env=api_key_env)
    adapter = folder / "adapter_config.json"
    if adapter.exists():
        base = json.loads(adapter.read_text()).get("base_model_name_or_path", "")
        if not base:
            raise EvaluationError(f"{adapter} names no base_model_name_or_path")
        return Target(label=path, backend="hf", pretrained=base, peft=str(folder), tokenizer=tokenizer or base)
    return Target(label=path, backend="hf", pretrained=str(folder), tokenizer=tokenizer or str(folder))


def target_for_served_model(served, backend: str = "auto", *, tokenizer: str = "") -> Target:
    """Build a Target from a ``ServedModel`` row (duck-typed, so this module never imports Django)."""
    base = served.base_model if served.kind == "vllm_lora" else None
    weights = (base.checkpoint_path if base else served.checkpoint_path) or ""
    tokenizer = tokenizer or weights
    if backend == "hf":
        if served.kind == "external" or not weights:
            raise EvaluationError(f"{served.public_name}: no local checkpoint to load in-process")
        return Target(label=served.public_name, backend="hf", pretrained=weights,
                      peft=served.checkpoint_path if base else "", tokenizer=tokenizer,
                      served_model_id=served.pk)
    endpoint = served.endpoint_url or (base.endpoint_url if base else "")
    if not endpoint:
        raise EvaluationError(f"{served.public_name} has no endpoint URL")
    if not tokenizer:
        raise EvaluationError(
            f"{served.public_name} has no checkpoint to take a tokenizer from; log-likelihood tasks need one "
            "(pass --tokenizer)"
        )
    return Target(label=served.public_name, backend="endpoint", tokenizer=tokenizer,
                  base_url=endpoint.rstrip("/"), served_name=served.served_name or served.public_name,
                  api_key_env=served.api_key_env, served_model_id=served.pk)


def lookup_served_model(public_name: str):
    """Default registry lookup; needs a configured Django."""
    try:
        from models_serving.models import ServedModel
    except Exception as exc:  # Django not set up / not importable
        raise EvaluationError(
            f"{public_name!r} is not a checkpoint folder, and arena names need Django ({exc})"
        ) from exc
    try:
        return ServedModel.objects.select_related("base_model").get(public_name=public_name)
    except ServedModel.DoesNotExist:
        names = ", ".join(ServedModel.objects.values_list("public_name", flat=True)[:20]) or "none registered"
        raise EvaluationError(f"no checkpoint folder and no arena model named {public_name!r} ({names})") from None


def resolve_target(model: str, backend: str = "auto", *, base_url: str = "", served_name: str = "",
                   tokenizer: str = "", lookup: Callable[[str], object] = lookup_served_model) -> Target:
    if backend not in BACKENDS:
        raise EvaluationError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not model or not model.strip():
        raise EvaluationError("--model is empty")
    # Something path-like that does not exist is a typo'd path, not an arena name: say so.
    if Path(model).expanduser().exists() or model.startswith(("/", "./", "../", "~")):
        return target_for_checkpoint(model, backend, base_url=base_url, served_name=served_name, tokenizer=tokenizer)
    return target_for_served_model(lookup(model), backend, tokenizer=tokenizer)


def auth_header(target: Target) -> dict:
    """The endpoint's Authorization header, read through the registry's one key reader (and its allow-list)."""
    from models_serving.client import Endpoint, EndpointError

    if not target.api_key_env:
        return {}
    endpoint = Endpoint(base_url=target.base_url, served_name=target.served_name, api_key_env=target.api_key_env)
    try:
        return {"Authorization": f"Bearer {endpoint.api_key()}"}
    except EndpointError as exc:
        raise EvaluationError(f"{exc} (API key of {target.label})") from exc


def check_endpoint(target: Target, timeout: float = 10.0) -> dict:
    """GET /models: the endpoint answers and serves ``served_name``. Returns server facts for the record."""
    from models_serving.client import Endpoint, EndpointError, ListingError, listed_models

    endpoint = Endpoint(base_url=target.base_url, served_name=target.served_name, api_key_env=target.api_key_env)
    try:
        served = sorted(listed_models(endpoint, timeout=timeout))
    except EndpointError as exc:  # the key's variable is unset
        raise EvaluationError(f"{exc} (API key of {target.label})") from exc
    except ListingError as exc:
        what = "is unreachable" if exc.status_code is None else "cannot list its models"
        raise EvaluationError(f"model endpoint {target.base_url} {what} ({exc})") from exc
    if target.served_name not in served:
        raise EvaluationError(
            f"model endpoint {target.base_url} does not serve {target.served_name!r} (it serves: {', '.join(served)})"
        )
    facts = {"served_models": served}
    try:  # vLLM lists each model's max_model_len: the prompt window must fit it
        listing = httpx.get(f"{target.base_url}/models", headers=auth_header(target), timeout=timeout).json()
        lengths = [m.get("max_model_len") for m in listing.get("data", []) if m.get("id") == target.served_name]
        if lengths and isinstance(lengths[0], int):
            facts["max_model_len"] = lengths[0]
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    try:  # vLLM reports its version; other servers may not
        version = httpx.get(target.base_url.removesuffix("/v1") + "/version", timeout=timeout)
        if version.status_code == 200:
            facts["server_version"] = version.json().get("version")
    except (httpx.HTTPError, ValueError):
        pass
    return facts
