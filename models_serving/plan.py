"""The serving plan: which vLLM servers the registry needs. Pure functions, no processes, no HTTP.

One server per base checkpoint; every active LoRA adapter of that base is served by the same
server under its own served name. The launcher diffs this plan against the servers it runs.
"""
from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from django.utils.text import slugify

from models_serving.checkpoints import MAX_LORA_RANK, adapter_rank

# vLLM accepts only these values for --max-lora-rank.
ALLOWED_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, MAX_LORA_RANK)
DEFAULT_LORA_RANK = 16


@dataclass(frozen=True)
class ServingDefaults:
    """vLLM's server flags when a base model leaves them empty: the one reader of settings.MODELS_SERVING
    (their values are declared there only), with ``serve_models`` options as overrides."""

    host: str
    dtype: str
    max_model_len: int
    gpu_memory_utilization: float
    tensor_parallel_size: int
    extra_args: tuple[str, ...]
    # Free LoRA slots beyond the active adapters, so an adapter activated later loads without a restart.
    lora_headroom: int
    cpu_kvcache_gib: int
    runtime_lora_updating: bool

    @classmethod
    def from_settings(cls, **overrides) -> "ServingDefaults":
        conf = settings.MODELS_SERVING
        values = {
            "host": conf["HOST"],
            "dtype": conf["DTYPE"],
            "max_model_len": conf["MAX_MODEL_LEN"],
            "gpu_memory_utilization": conf["GPU_MEMORY_UTILIZATION"],
            "tensor_parallel_size": conf["TENSOR_PARALLEL_SIZE"],
            "extra_args": conf["EXTRA_ARGS"],
            "lora_headroom": conf["LORA_HEADROOM"],
            "cpu_kvcache_gib": conf["CPU_KVCACHE_GIB"],
            "runtime_lora_updating": bool(conf["RUNTIME_LORA_UPDATING"]),
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
    adapters: tuple[tuple[str, str], ...]  # (served name, path) of each active adapter
    adapter_ids: tuple[int, ...]
    lora_enabled: bool
    max_loras: int
    max_lora_rank: int
    dtype: str
    max_model_len: int
    gpu_memory_utilization: float
    tensor_parallel_size: int
    extra_args: tuple[str, ...]
    port: int  # 0: any free port
    host: str
    cpu_kvcache_gib: int
    runtime_lora_updating: bool

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
                "cpu_kvcache_gib": self.cpu_kvcache_gib, "runtime_lora_updating": self.runtime_lora_updating}


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
            runtime_lora_updating=defaults.runtime_lora_updating,
        ))
    return sorted(plans, key=lambda plan: plan.served_name)


def reuse(plan: ServerPlan, *, flags: dict, loaded: dict, port: int, live: bool) -> Reuse:
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
        if not plan.runtime_lora_updating:
            return Reuse(restart_reason="the server does not allow loading adapters at run time")
        if len(wanted) > int(flags.get("max_loras") or 0):
            return Reuse(restart_reason=f"{len(wanted)} adapters need more LoRA slots than the server's "
                                        f"{flags.get('max_loras')}")
        if plan.max_lora_rank > int(flags.get("max_lora_rank") or 0):
            return Reuse(restart_reason=f"adapter rank {plan.max_lora_rank} exceeds the server's "
                                        f"{flags.get('max_lora_rank')}")
    return Reuse(to_load=to_load, to_unload=to_unload)


def restart_backoff(failures: int) -> float:
    """Seconds to wait before restarting a server that failed ``failures`` times in a row."""
    if failures <= 0:
        return 0.0
    conf = settings.MODELS_SERVING
    return min(conf["RESTART_BACKOFF"] * 2 ** (failures - 1), conf["RESTART_BACKOFF_MAX"])


def restart_is_due(record) -> bool:
    """A crashed server (a ModelServer record) may be restarted once its backoff has passed since it was found dead."""
    if record.status != "failed" or record.stopped_at is None:
        return True
    return (timezone.now() - record.stopped_at).total_seconds() >= restart_backoff(record.failures)
