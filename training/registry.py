"""Register a training output in the arena as a ServedModel, with provenance from its manifest.

Django must be set up before calling these functions (the CLI does it; tests use pytest-django).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from training.backbones import BACKBONE_MANIFEST
from training.manifest import read_manifest


class RegistrationError(ValueError):
    pass


def setup_django() -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
    django.setup()


def detect_kind(checkpoint: Path) -> str:
    if (checkpoint / "adapter_config.json").is_file():
        return "vllm_lora"
    if (checkpoint / "config.json").is_file() and (
        any(checkpoint.glob("*.safetensors")) or any(checkpoint.glob("*.bin"))
    ):
        return "vllm_base"
    raise RegistrationError(
        f"{checkpoint} is neither a LoRA adapter (adapter_config.json) nor a full checkpoint (config.json + weights)"
    )


def default_served_name(public_name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", public_name.lower()).strip("-") or "model"


def _find_base(checkpoint: Path, manifest: dict | None, base_name: str | None):
    from models_serving.models import ServedModel

    if base_name:
        try:
            base = ServedModel.objects.get(public_name=base_name)
        except ServedModel.DoesNotExist:
            raise RegistrationError(f"--base {base_name!r}: no ServedModel with that public name") from None
        if base.kind != ServedModel.Kind.VLLM_BASE:
            raise RegistrationError(f"--base {base_name!r} is a {base.kind} entry; a LoRA adapter needs a vllm_base")
        return base
    candidates = []
    adapter_base = json.loads((checkpoint / "adapter_config.json").read_text()).get("base_model_name_or_path")
    for ref in (adapter_base, (manifest or {}).get("backbone", {}).get("path")):
        if ref:
            candidates.append(ref)
            if Path(ref).exists():
                candidates.append(str(Path(ref).resolve()))
    base = ServedModel.objects.filter(kind=ServedModel.Kind.VLLM_BASE, checkpoint_path__in=candidates).first()
    if base is None:
        raise RegistrationError(
            f"the adapter's base ({adapter_base}) is not registered: register it first with "
            f"`python -m training register {adapter_base} --name NAME`, or pass --base NAME"
        )
    return base


def register_checkpoint(checkpoint_dir: str | Path, *, name: str, base: str | None = None, description: str = "",
                        served_name: str | None = None, endpoint_url: str | None = None,
                        system_prompt: str = "", active: bool = True):
    """Create the ServedModel for a full checkpoint or a LoRA adapter; returns it."""
    from django.core.exceptions import ValidationError

    from models_serving.models import ServedModel

    checkpoint = Path(checkpoint_dir).expanduser().resolve()
    if not checkpoint.is_dir():
        raise RegistrationError(f"{checkpoint} is not a folder")
    if not name.strip():
        raise RegistrationError("--name is empty")
    if ServedModel.objects.filter(public_name=name).exists():
        raise RegistrationError(f"a ServedModel named {name!r} already exists")
    kind = detect_kind(checkpoint)
    manifest = read_manifest(checkpoint)
    backbone_manifest = checkpoint / BACKBONE_MANIFEST
    model = ServedModel(
        public_name=name, kind=kind, checkpoint_path=str(checkpoint), description=description,
        served_name=served_name or default_served_name(name), system_prompt=system_prompt, is_active=active,
    )
    if manifest:
        model.backbone = str(manifest.get("backbone", {}).get("path", ""))[:200]
        model.recipe = str(manifest.get("recipe_name", ""))[:200]
        model.training_run = f"{checkpoint.name} ({manifest.get('finished_at', '')})"[:200]
    elif backbone_manifest.is_file():
        info = json.loads(backbone_manifest.read_text())
        model.backbone = f"{info.get('name', '')} from {info.get('source', '')}"[:200]
    if kind == ServedModel.Kind.VLLM_LORA:
        model.base_model = _find_base(checkpoint, manifest, base)
        # One vLLM server serves the base and its adapters: same endpoint unless told otherwise.
        model.endpoint_url = endpoint_url if endpoint_url is not None else model.base_model.endpoint_url
        if not model.backbone:
            model.backbone = model.base_model.public_name
    else:
        if base:
            raise RegistrationError("--base only applies to LoRA adapters; this is a full checkpoint")
        model.endpoint_url = endpoint_url or ""
    try:
        model.full_clean()
    except ValidationError as exc:
        raise RegistrationError(f"invalid ServedModel: {exc.message_dict}") from None
    model.save()
    return model
