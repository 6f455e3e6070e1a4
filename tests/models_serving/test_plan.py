"""The serving plan is a pure function of the registry: tested without vLLM."""
from __future__ import annotations

import dataclasses

import pytest

from models_serving.models import ServedModel
from models_serving.plan import ServingDefaults, desired_servers, reuse, round_rank, served_name_for

DEFAULTS = ServingDefaults.from_settings(lora_headroom=2, max_model_len=1024, dtype="float32")


def model(pk, kind, name, *, active=True, base=None, path=None, **fields):
    return ServedModel(pk=pk, kind=kind, public_name=name, is_active=active, base_model_id=base,
                       checkpoint_path=path if path is not None else f"/ckpt/{pk}", **fields)


def ranks(path):
    return {"/ckpt/3": 8, "/ckpt/4": 16, "/ckpt/5": 8}.get(path, 8)


def test_one_server_per_base_with_its_active_adapters():
    registry = [
        model(1, "vllm_base", "Latxa Proba 8B"),
        model(2, "external", "GPT kanpokoa", path=""),
        model(3, "vllm_lora", "Latxa LoRA A", base=1),
        model(4, "vllm_lora", "Latxa LoRA B", base=1, served_name="lora-b"),
        model(5, "vllm_lora", "Latxa LoRA C", base=1, active=False),
        model(6, "vllm_base", "Beste oinarria", server_port=8100, server_extra_args="--enforce-eager"),
    ]
    plans = desired_servers(registry, DEFAULTS, rank_of=ranks)
    assert [p.served_name for p in plans] == ["beste-oinarria", "latxa-proba-8b"]
    other, latxa = plans
    assert latxa.adapters == (("latxa-lora-a", "/ckpt/3"), ("lora-b", "/ckpt/4"))
    assert latxa.adapter_ids == (3, 4)
    assert latxa.lora_enabled and latxa.max_loras == 2 + 2  # active adapters + headroom
    assert latxa.max_lora_rank == 16
    assert latxa.dtype == "float32" and latxa.max_model_len == 1024
    assert not other.lora_enabled and other.max_loras == 0
    assert other.port == 8100 and other.extra_args == ("--enforce-eager",)


def test_inactive_base_is_served_only_while_an_adapter_needs_it():
    base = model(1, "vllm_base", "Oinarria", active=False)
    adapter = model(2, "vllm_lora", "Egokitzailea", base=1)
    assert [p.served_name for p in desired_servers([base, adapter], DEFAULTS, rank_of=ranks)] == ["oinarria"]
    adapter.is_active = False
    assert desired_servers([base, adapter], DEFAULTS, rank_of=ranks) == []


def test_an_inactive_adapter_still_enables_lora_so_activating_it_needs_no_restart():
    plans = desired_servers([model(1, "vllm_base", "B"), model(2, "vllm_lora", "L", base=1, active=False)],
                            DEFAULTS, rank_of=ranks)
    assert plans[0].lora_enabled and plans[0].adapters == () and plans[0].max_loras == 2


def test_reuse_loads_new_adapters_at_run_time_when_slots_allow():
    registry = [model(1, "vllm_base", "B"), model(3, "vllm_lora", "A1", base=1), model(4, "vllm_lora", "A2", base=1)]
    plan = desired_servers(registry, DEFAULTS, rank_of=ranks)[0]
    running = {**plan.flags(), "max_loras": 3}
    decision = reuse(plan, flags=running, loaded={"a1": "/ckpt/3", "old": "/x"}, port=8000, live=True)
    assert decision.keep
    assert decision.to_load == (("a2", "/ckpt/4"),)
    assert decision.to_unload == ("old",)


@pytest.mark.parametrize("change, reason", [
    ({"max_loras": 1}, "LoRA slots"),
    ({"max_lora_rank": 8}, "rank"),
    ({"dtype": "bfloat16"}, "flags changed: dtype"),
    ({"lora_enabled": False}, "flags changed: lora_enabled"),
])
def test_reuse_restarts_when_the_running_server_cannot_serve_the_plan(change, reason):
    registry = [model(1, "vllm_base", "B"), model(3, "vllm_lora", "A1", base=1), model(4, "vllm_lora", "A2", base=1)]
    plan = desired_servers(registry, DEFAULTS, rank_of=ranks)[0]
    decision = reuse(plan, flags={**plan.flags(), **change}, loaded={"a1": "/ckpt/3"}, port=8000, live=True)
    assert not decision.keep and reason in decision.restart_reason


def test_reuse_restarts_a_dead_server_or_one_that_refuses_runtime_loading():
    plan = desired_servers([model(1, "vllm_base", "B"), model(3, "vllm_lora", "A", base=1)], DEFAULTS, rank_of=ranks)[0]
    assert reuse(plan, flags=plan.flags(), loaded={}, port=1, live=False).restart_reason == "not running"
    refused = reuse(dataclasses.replace(plan, runtime_lora_updating=False), flags=plan.flags(), loaded={}, port=1,
                    live=True)
    assert "run time" in refused.restart_reason


def test_served_names_and_ranks():
    assert served_name_for(ServedModel(public_name="Latxa 8B Instruct (v2)")) == "latxa-8b-instruct-v2"
    assert served_name_for(ServedModel(public_name="X", served_name="explicit")) == "explicit"
    assert [round_rank(r) for r in (4, 8, 9, 300)] == [8, 8, 16, 320]
    with pytest.raises(ValueError):
        round_rank(1024)


def test_defaults_are_read_from_the_settings_and_overridden_by_options(settings):
    settings.MODELS_SERVING = {**settings.MODELS_SERVING, "DTYPE": "bfloat16", "EXTRA_ARGS": "--enforce-eager"}
    defaults = ServingDefaults.from_settings(max_model_len=4096, tensor_parallel_size=None)
    assert (defaults.dtype, defaults.extra_args, defaults.max_model_len) == ("bfloat16", ("--enforce-eager",), 4096)
    assert defaults.tensor_parallel_size == settings.MODELS_SERVING["TENSOR_PARALLEL_SIZE"]  # None: not given
