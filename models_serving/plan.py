"""The serving plan: which vLLM servers the registry needs. Pure functions, no processes, no HTTP.

One server per base checkpoint; every active LoRA adapter of that base is served by the same
server under its own served name. The launcher diffs this plan against the servers it runs.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.utils.text import slugify

# vLLM accepts only these values for --max-lora-rank.
ALLOWED_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_LORA_RANK = 16


@dataclass(frozen=True)
class ServingDefaults:
    """Server flags used when a base model leaves them empty (settings.MODELS_SERVING, command options)."""

    host: str = "127.0.0.1"
    dtype: str = "auto"
    max_model_len: int = 2048
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    extra_args: tuple[str, ...] = ()
    # Free LoRA slots beyond the active adapters, so an adapter activated later loads without a restart.
    lora_headroom: int = 2
    cpu_kvcache_gib: int = 1

    @classmethod
    def from_settings(cls, **overrides) -> "ServingDefaults":
        from django.conf import settings

        conf = getattr(settings, "MODELS_SERVING", {}) or {}
        values = {
            "host": conf.get("HOST", cls.host),
            "dtype": conf.get("DTYPE", cls.dtype),
            "max_model_len": int(conf.get("MAX_MODEL_LEN", cls.max_model_len)),
            "gpu_memory_utilization": float(conf.get("GPU_MEMORY_UTILIZATION", cls.gpu_memory_utilization)),
            "tensor_parallel_size": int(conf.get("TENSOR_PARALLEL_SIZE", cls.tensor_parallel_size)),
            "extra_args": tuple(split_args(conf.get("EXTRA_ARGS", ""))),
            "lora_headroom": int(conf.get("LORA_HEADROOM", cls.lora_headroom)),
            "cpu_kvcache_gib": int(conf.get("CPU_KVCACHE_GIB", cls.cpu_kvcache_gib)),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        if isinstance(values["extra_args"], str):
            values["extra_args"] = tuple(split_args(values["extra_args"]))
        return cls(**values)


@dataclass(frozen=True)
class ServerPlan:
    """One desired vLLM server."""

    base_id: int
    served_name: str
    model_path: str
    adapters: tuple[tuple[str, str], ...] = ()  # (served name, path) of each active adapter
    lora_enabled: bool = False
    max_loras: int = 0
    max_lora_rank: int = DEFAULT_LORA_RANK
    dtype: str = "auto"
    max_model_len: int = 2048
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    extra_args: tuple[str, ...] = ()
    port: int = 0  # 0: any free port
    host: str = "127.0.0.1"
    cpu_kvcache_gib: int = 1
    adapter_ids: tuple[int, ...] = field(default=(), compare=False)

    def restart_flags(self) -> dict:
        """What a running server must match to be kept; changing any of these needs a restart.

        Adapters and LoRA capacity are not here: adapters can be loaded at run time while the
        server has free slots (see ``reuse``).
        """
        return {
            "model": self.model_path, "served_name": self.served_name, "dtype": self.dtype,
            "max_model_len": self.max_model_len, "gpu_memory_utilization": self.gpu_memory_utilization,
            "tensor_parallel_size": self.tensor_parallel_size, "extra_args": list(self.extra_args),
            "lora_enabled": self.lora_enabled,
        }

    def flags(self) -> dict:
        """Everything recorded on the ModelServer row."""
        return {**self.restart_flags(), "max_loras": self.max_loras, "max_lora_rank": self.max_lora_rank,
                "cpu_kvcache_gib": self.cpu_kvcache_gib}

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Reuse:
    """The launcher's decision for a base that already has a live server."""

    restart_reason: str = ""  # non-empty: stop and start again
    to_load: tuple[tuple[str, str], ...] = ()
    to_unload: tuple[str, ...] = ()

    @property
    def keep(self) -> bool:
        return not self.restart_reason


def split_args(text: str) -> list[str]:
    return shlex.split(text or "")


def served_name_for(model) -> str:
    """The name a vLLM server answers to: the explicit served name, else a slug of the public name."""
    return model.served_name or slugify(model.public_name) or f"model-{model.pk}"


def round_rank(rank: int) -> int:
    for allowed in ALLOWED_LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise ValueError(f"LoRA rank {rank} is larger than vLLM supports ({ALLOWED_LORA_RANKS[-1]})")


def adapter_rank(path: str) -> int:
    """The largest LoRA rank in an adapter folder's adapter_config.json."""
    config = json.loads((Path(path) / "adapter_config.json").read_text())
    ranks = [int(config.get("r") or DEFAULT_LORA_RANK), *(int(v) for v in (config.get("rank_pattern") or {}).values())]
    return max(ranks)


def desired_servers(models: Iterable, defaults: ServingDefaults,
                    rank_of: Callable[[str], int] = adapter_rank) -> list[ServerPlan]:
    """The servers the registry needs, one per base, sorted by served name.

    ``models`` is every ServedModel (active or not): an inactive adapter still sizes its base's
    LoRA rank, and an inactive base is served while one of its adapters is active.
    """
    models = list(models)
    bases = {m.pk: m for m in models if m.kind == "vllm_base" and m.checkpoint_path}
    adapters: dict[int, list] = {pk: [] for pk in bases}
    for model in models:
        if model.kind == "vllm_lora" and model.base_model_id in bases and model.checkpoint_path:
            adapters[model.base_model_id].append(model)
    plans = []
    for pk, base in bases.items():
        active = sorted((a for a in adapters[pk] if a.is_active), key=served_name_for)
        if not base.is_active and not active:
            continue
        lora_enabled = bool(adapters[pk])
        rank = DEFAULT_LORA_RANK
        if lora_enabled:
            ranks = []
            for adapter in adapters[pk]:
                try:
                    ranks.append(rank_of(adapter.checkpoint_path))
                except (OSError, ValueError, KeyError):
                    continue  # unreadable adapter: it will fail to load and be marked unhealthy
            rank = round_rank(max(ranks, default=DEFAULT_LORA_RANK))
        plans.append(ServerPlan(
            base_id=pk,
            served_name=served_name_for(base),
            model_path=base.checkpoint_path,
            adapters=tuple((served_name_for(a), a.checkpoint_path) for a in active),
            adapter_ids=tuple(a.pk for a in active),
            lora_enabled=lora_enabled,
            max_loras=max(1, len(active) + defaults.lora_headroom) if lora_enabled else 0,
            max_lora_rank=rank,
            dtype=base.server_dtype or defaults.dtype,
            max_model_len=base.server_max_model_len or defaults.max_model_len,
            gpu_memory_utilization=base.server_gpu_memory or defaults.gpu_memory_utilization,
            tensor_parallel_size=base.server_tensor_parallel or defaults.tensor_parallel_size,
            extra_args=tuple(split_args(base.server_extra_args)) or defaults.extra_args,
            port=base.server_port or 0,
            host=defaults.host,
            cpu_kvcache_gib=defaults.cpu_kvcache_gib,
        ))
    return sorted(plans, key=lambda plan: plan.served_name)


def reuse(plan: ServerPlan, *, flags: dict, loaded: dict, port: int, live: bool,
          runtime_updates: bool = True) -> Reuse:
    """Can the server recorded with ``flags``/``loaded`` adapters serve ``plan`` without a restart?"""
    if not live:
        return Reuse(restart_reason="not running")
    recorded = {key: flags.get(key) for key in plan.restart_flags()}
    if recorded != plan.restart_flags():
        changed = sorted(key for key, value in plan.restart_flags().items() if recorded.get(key) != value)
        return Reuse(restart_reason="flags changed: " + ", ".join(changed))
    if plan.port and plan.port != port:
        return Reuse(restart_reason=f"port changed to {plan.port}")
    wanted = dict(plan.adapters)
    to_load = tuple((name, path) for name, path in plan.adapters if loaded.get(name) != path)
    to_unload = tuple(name for name in loaded if name not in wanted)
    if to_load:
        if not runtime_updates:
            return Reuse(restart_reason="the server does not allow loading adapters at run time")
        if len(wanted) > int(flags.get("max_loras") or 0):
            return Reuse(restart_reason=f"{len(wanted)} adapters need more LoRA slots than the server's "
                                        f"{flags.get('max_loras')}")
        if plan.max_lora_rank > int(flags.get("max_lora_rank") or 0):
            return Reuse(restart_reason=f"adapter rank {plan.max_lora_rank} exceeds the server's "
                                        f"{flags.get('max_lora_rank')}")
    return Reuse(to_load=to_load, to_unload=to_unload)
