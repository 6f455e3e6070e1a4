"""What a checkpoint folder must hold before vLLM is asked to serve it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FULL_WEIGHTS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
MAX_LORA_RANK = 512  # vLLM's largest --max-lora-rank


class CheckpointError(ValueError):
    """The folder cannot be served; the message says why, for the admin form."""


@dataclass(frozen=True)
class AdapterInfo:
    base_name_or_path: str  # the base it was trained on, as its config names it
    rank: int


def _folder(path: str) -> Path:
    if not path:
        raise CheckpointError("Enter the checkpoint folder.")
    folder = Path(path).expanduser()
    if not folder.is_absolute():
        raise CheckpointError("Enter an absolute path (the servers do not run from the web server's folder).")
    if not folder.exists():
        raise CheckpointError(f"{folder} does not exist on this machine.")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is a file; enter the folder that holds the checkpoint.")
    return folder


def check_full(path: str) -> Path:
    """A full checkpoint: config.json plus weights (safetensors or PyTorch bins)."""
    folder = _folder(path)
    if (folder / "adapter_config.json").exists():
        raise CheckpointError("This folder holds a LoRA adapter; choose the kind 'LoRA adapter'.")
    if not (folder / "config.json").exists():
        raise CheckpointError(f"{folder} has no config.json.")
    if not any(next(folder.glob(pattern), None) for pattern in FULL_WEIGHTS):
        raise CheckpointError(f"{folder} has a config.json but no weights (*.safetensors or pytorch_model*.bin).")
    return folder


def check_adapter(path: str) -> AdapterInfo:
    """A PEFT LoRA adapter: adapter_config.json (naming its base) plus adapter weights."""
    folder = _folder(path)
    config_path = folder / "adapter_config.json"
    if not config_path.exists():
        hint = " It looks like full weights; choose 'vLLM checkpoint'." if (folder / "config.json").exists() else ""
        raise CheckpointError(f"{folder} has no adapter_config.json.{hint}")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"adapter_config.json cannot be read: {exc}")
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise CheckpointError(f"Only LoRA adapters can be served (this one is {config.get('peft_type')}).")
    if not any((folder / name).exists() for name in ADAPTER_WEIGHTS):
        raise CheckpointError(f"{folder} has an adapter_config.json but no adapter_model.safetensors.")
    rank = lora_rank(config)
    if rank > MAX_LORA_RANK:
        raise CheckpointError(f"LoRA rank {rank} is larger than vLLM serves ({MAX_LORA_RANK}).")
    return AdapterInfo(str(config.get("base_model_name_or_path") or ""), rank)


def lora_rank(config: dict) -> int:
    """The largest rank in an adapter config (``r``, PEFT's default 8, or a larger per-module one)."""
    return max([int(config.get("r") or 8), *(int(v) for v in (config.get("rank_pattern") or {}).values())])


def adapter_rank(path: str) -> int:
    """The LoRA rank of an adapter folder, as the serving plan sizes its base's server with it."""
    return lora_rank(json.loads((Path(path) / "adapter_config.json").read_text()))


def same_folder(a: str, b: str) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False
