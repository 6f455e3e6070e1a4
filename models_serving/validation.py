"""What a registry entry must satisfy before it is stored: the one copy of these checks.

Run by the registration service (``services.save_model``) for every path that adds or edits a
model, and by the admin's form, which shows the same errors next to their fields before saving.
Messages are the form's (translated); checkpoint messages come from ``checkpoints``.
"""
from __future__ import annotations

import re
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from models_serving import checkpoints
from models_serving.client import Endpoint, EndpointError, ListingError, key_env_allowed, listed_models
from models_serving.models import ModelServer, ServedModel
from models_serving.plan import served_name_for, split_args
from models_serving.vllm_process import port_is_free

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
VLLM_KINDS = (ServedModel.Kind.VLLM_BASE, ServedModel.Kind.VLLM_LORA)
SERVER_FIELDS = ("server_port", "server_extra_args", "server_dtype", "server_max_model_len", "server_gpu_memory",
                 "server_tensor_parallel")

# Seconds the registration check waits for an endpoint's /models, and the least time a failing check takes.
LISTING_TIMEOUT = 5.0

Errors = dict[str, list[str]]


def check_model(model: ServedModel) -> None:
    """Raise ValidationError({field: [messages]}) unless ``model`` can be registered as it stands.

    Completes the model on the way: a LoRA adapter's base (found from its adapter config when not
    chosen), a vLLM model's served name (a slug of its public name when empty), an external URL
    without its trailing slash."""
    errors: Errors = {}
    _check_common(model, errors)
    if model.kind == ServedModel.Kind.VLLM_BASE:
        _check_base(model, errors)
    elif model.kind == ServedModel.Kind.VLLM_LORA:
        _check_adapter(model, errors)
    elif model.kind == ServedModel.Kind.EXTERNAL:
        _check_external(model, errors)
    if model.kind in VLLM_KINDS and not errors:
        _check_served_name(model, errors)
    if errors:
        raise ValidationError(errors)


def _add(errors: Errors, field: str, message) -> None:
    errors.setdefault(field, []).append(str(message))


def _check_common(model: ServedModel, errors: Errors) -> None:
    model.public_name = model.public_name.strip()
    clash = ServedModel.objects.filter(public_name__iexact=model.public_name).exclude(pk=model.pk).first()
    if clash is not None:
        _add(errors, "public_name", _("A model called %(name)s is already registered.") % {"name": clash})
    model.api_key_env = model.api_key_env.strip()
    if model.api_key_env and not ENV_NAME.match(model.api_key_env):
        # Whatever was typed is not echoed back: it may be the key itself.
        _add(errors, "api_key_env", _("Enter the NAME of an environment variable (letters, digits, _), "
                                      "never the API key itself."))
    elif model.api_key_env and not key_env_allowed(model.api_key_env):
        _add(errors, "api_key_env", allowed_key_envs_text())
    try:
        split_args(model.server_extra_args)
    except ValueError as exc:
        _add(errors, "server_extra_args", _("These arguments cannot be parsed: %(error)s") % {"error": exc})


def _check_base(model: ServedModel, errors: Errors) -> None:
    try:
        checkpoints.check_full(model.checkpoint_path)
    except checkpoints.CheckpointError as exc:
        _add(errors, "checkpoint_path", exc)
    if model.base_model_id:
        _add(errors, "base_model", _("A full checkpoint has no base model."))
    if model.server_port:
        _check_port(model, errors)


def _check_port(model: ServedModel, errors: Errors) -> None:
    port = model.server_port
    others = ServedModel.objects.filter(server_port=port).exclude(pk=model.pk)
    if others.exists():
        _add(errors, "server_port", _("Port %(port)s is already assigned to %(model)s.")
             % {"port": port, "model": others[0]})
        return
    # The model's own server may hold the port; any other process holding it makes a start fail.
    own = ModelServer.objects.filter(base_id=model.pk, port=port).exclude(
        status__in=[ModelServer.Status.STOPPED, ModelServer.Status.FAILED]).exists()
    live = ModelServer.objects.filter(port=port, status__in=[ModelServer.Status.STARTING, ModelServer.Status.RUNNING])
    if not own and (live.exists() or not port_is_free(port)):
        _add(errors, "server_port", _("Port %(port)s is already in use on this machine; leave it empty "
                                      "to pick a free one.") % {"port": port})


def _check_adapter(model: ServedModel, errors: Errors) -> None:
    try:
        info = checkpoints.check_adapter(model.checkpoint_path)
    except checkpoints.CheckpointError as exc:
        _add(errors, "checkpoint_path", exc)
        return
    # The base the adapter's config names, when it is a registered checkpoint folder.
    named = next((base for base in ServedModel.objects.filter(kind=ServedModel.Kind.VLLM_BASE)
                  if info.base_name_or_path and checkpoints.same_folder(base.checkpoint_path, info.base_name_or_path)),
                 None)
    if model.base_model_id is None:
        if named is None:
            _add(errors, "base_model", _("This adapter was trained on %(base)s, which is not a registered vLLM "
                                         "checkpoint. Register the base first, or choose it here.")
                 % {"base": info.base_name_or_path or _("no base")})
            return
        model.base_model = named
    elif model.base_model.kind != ServedModel.Kind.VLLM_BASE:
        _add(errors, "base_model", _("The base must be a vLLM checkpoint (full weights)."))
    elif named is not None and named.pk != model.base_model_id:
        # Its weights would be applied to another model than the one they were trained on.
        _add(errors, "base_model", f"This adapter was trained on {named} ({info.base_name_or_path}), "
                                   f"not on {model.base_model}.")
    for name in SERVER_FIELDS:
        if getattr(model, name):
            _add(errors, name, _("Server settings belong to the base model."))


def _check_external(model: ServedModel, errors: Errors) -> None:
    model.endpoint_url = model.endpoint_url.rstrip("/")
    url = model.endpoint_url
    if not url:
        _add(errors, "endpoint_url", _("Enter the endpoint's OpenAI-compatible base URL (ending in /v1)."))
    if not model.served_name:
        _add(errors, "served_name", _("Enter the model name the endpoint expects."))
    if model.checkpoint_path or model.base_model_id:
        _add(errors, "kind", _("An external endpoint has no checkpoint folder or base model."))
    if errors:
        return
    env = model.api_key_env
    started = time.monotonic()
    try:
        listed = listed_models(Endpoint(base_url=url, served_name=model.served_name, api_key_env=env),
                               timeout=LISTING_TIMEOUT)
    except EndpointError:  # decided here, before any request: the variable is unset
        _add(errors, "api_key_env", _("The environment variable %(env)s is not set on this server.") % {"env": env})
        return
    except ListingError:
        listed = set()
    if model.served_name not in listed:
        # One message, after one delay, whatever happened: refused, timed out, any HTTP status, no model
        # list, or a list without the name. Registry staff may type any URL; telling these apart (or
        # answering a refused port sooner) would let them map which ports of which hosts this server reaches.
        # The periodic health check requires the name listed, so such a model would be unhealthy at once.
        time.sleep(max(0.0, started + LISTING_TIMEOUT - time.monotonic()))
        _add(errors, "endpoint_url", _("%(url)s/models did not answer a model list naming %(name)s. Check the URL, "
                                       "the served name and the API key's variable.")
             % {"url": url, "name": model.served_name})


def allowed_key_envs_text() -> str:
    """Which environment variables may hold API keys, as the form says it (the operator's settings)."""
    prefix = settings.MODELS_SERVING["API_KEY_ENV_PREFIX"]
    if prefix:
        return str(_("Only variables the operator allowed may hold API keys: names starting with %(prefix)s, "
                     "or listed in ARENA_MODEL_KEY_ENVS.") % {"prefix": prefix})
    return str(_("Only variables the operator allowed may hold API keys: those listed in ARENA_MODEL_KEY_ENVS."))


def _check_served_name(model: ServedModel, errors: Errors) -> None:
    """Names must be unique on one server: a base and its adapters share one namespace."""
    model.served_name = served_name_for(model)
    base_id = model.base_model_id if model.kind == ServedModel.Kind.VLLM_LORA else model.pk
    if base_id is None:
        return  # a new base: nothing is served beside it yet
    siblings = (ServedModel.objects.filter(kind__in=VLLM_KINDS).exclude(pk=model.pk)
                .filter(Q(pk=base_id) | Q(base_model_id=base_id)))
    if any(served_name_for(other) == model.served_name for other in siblings):
        _add(errors, "served_name", _("The served name %(name)s is already used on the same server.")
             % {"name": model.served_name})
