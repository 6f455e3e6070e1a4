"""Register a training output in the arena as a ServedModel, with provenance from its manifest.

The registration itself (checks, served name, health) is ``models_serving.services.register_model``,
the same path as the admin's; this module adds what only a training run knows.
Django must be set up before calling these functions (the CLI does it; tests use pytest-django).
"""
from __future__ import annotations

import json
from pathlib import Path

from training.backbones import BACKBONE_MANIFEST
from training.manifest import read_manifest

# The command line's names for the registry's fields, in its error messages.
OPTION_OF_FIELD = {"public_name": "--name", "base_model": "--base", "served_name": "--served-name",
                   "endpoint_url": "--endpoint-url", "checkpoint_path": "checkpoint",
                   "system_prompt": "--system-prompt"}


class RegistrationError(ValueError):
    pass


def setup_django() -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    django.setup()


def detect_kind(checkpoint: Path) -> str:
    """A folder with an adapter config is a LoRA adapter; the registration checks the rest."""
    return "vllm_lora" if (checkpoint / "adapter_config.json").is_file() else "vllm_base"


def provenance(checkpoint: Path) -> dict[str, str]:
    """Backbone, recipe and run of a training output (its manifest); else the backbone that a prepared
    checkpoint or an adapter's config names."""
    manifest = read_manifest(checkpoint)
    if manifest:
        return {"backbone": str(manifest.get("backbone", {}).get("path", ""))[:200],
                "recipe": str(manifest.get("recipe_name", ""))[:200],
                "training_run": f"{checkpoint.name} ({manifest.get('finished_at', '')})"[:200]}
    if (checkpoint / BACKBONE_MANIFEST).is_file():
        info = json.loads((checkpoint / BACKBONE_MANIFEST).read_text())
        return {"backbone": f"{info.get('name', '')} from {info.get('source', '')}"[:200]}
    if (checkpoint / "adapter_config.json").is_file():
        try:
            return {"backbone": str(json.loads((checkpoint / "adapter_config.json").read_text())
                                    .get("base_model_name_or_path") or "")[:200]}
        except ValueError:
            pass  # the registration's checks say what is wrong with the config
    return {}


def register_checkpoint(checkpoint_dir: str | Path, *, name: str, base: str | None = None, description: str = "",
                        served_name: str | None = None, endpoint_url: str | None = None,
                        system_prompt: str = "", active: bool = True):
    """Create the ServedModel for a full checkpoint or a LoRA adapter; returns it.

    A LoRA adapter whose base already runs on a vLLM server is loaded on it at once (as the admin does);
    until that server lists it, it is not drawn into battles."""
    from django.core.exceptions import ValidationError
    from django.utils import translation

    from models_serving import services
    from models_serving.models import ServedModel

    checkpoint = Path(checkpoint_dir).expanduser().resolve()
    base_model = None
    if base:
        base_model = ServedModel.objects.filter(public_name=base).first()
        if base_model is None:
            raise RegistrationError(f"--base {base!r}: no ServedModel with that public name")
    fields = provenance(checkpoint)
    try:
        with translation.override("en"):  # the command line speaks English; the admin, the admin's language
            model = services.register_model(
                public_name=name, kind=detect_kind(checkpoint), checkpoint_path=str(checkpoint), base_model=base_model,
                endpoint_url=endpoint_url or "", served_name=served_name or "", description=description,
                system_prompt=system_prompt, is_active=active, **fields,
            )
    except ValidationError as exc:
        problems = [f"{OPTION_OF_FIELD.get(field, field)}: {message}"
                    for field, messages in exc.message_dict.items() for message in messages]
        raise RegistrationError("; ".join(problems)) from None
    if model.kind == ServedModel.Kind.VLLM_LORA:
        services.apply_to_live_server(adapter=model)  # the launcher logs what it did
    return model
