"""Real (tiny) training runs: loss goes down, LoRA and full save and reload, resume continues the same run."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from training.manifest import TRAINING_MANIFEST
from training.trainer import RunError, run_training

from tests.training.factories import tiny_recipe


def mean_loss(model, blocks) -> float:
    dataset, collate = blocks
    model.eval()
    losses = []
    with torch.no_grad():
        for row in dataset.select(range(min(8, len(dataset)))):
            batch = collate([row])
            losses.append(model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                                labels=batch["labels"], use_cache=False).loss.item())
    return sum(losses) / len(losses)


@pytest.fixture(scope="module")
def training_blocks(tiny_llama_dir, data_dir, tmp_path_factory):
    from training.data_mixing import build_training_set, packing_collator
    from training.trainer import load_tokenizer

    recipe = tiny_recipe(tiny_llama_dir, data_dir, tmp_path_factory.mktemp("unused"))
    tokenizer = load_tokenizer(recipe)
    dataset, _, _ = build_training_set(tokenizer, recipe.data, seed=1)
    return dataset, packing_collator(tokenizer)


@pytest.mark.parametrize("run_name", ["lora_run", "full_run"])
def test_loss_decreases_and_manifest_is_complete(request, run_name):
    result = request.getfixturevalue(run_name)
    losses = [h["loss"] for h in result.manifest["log_history"] if "loss" in h]
    # LoRA leaves the random model's embeddings and output layer frozen, so it learns more slowly.
    margin = 0.2 if run_name == "lora_run" else 1.0
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - margin, losses
    manifest = json.loads((result.output_dir / TRAINING_MANIFEST).read_text())
    assert manifest["kind"] == ("lora" if run_name == "lora_run" else "full")
    assert {f["source"] for f in manifest["data_files"]} == {"corpus", "eu"}
    assert all(len(f["sha256"]) == 64 for f in manifest["data_files"])
    assert manifest["versions"]["torch"] and manifest["versions"]["transformers"]
    assert manifest["metrics"]["train_tokens_per_s"] > 0
    assert manifest["recipe"]["model"]["use_peft"] == (manifest["kind"] == "lora")
    assert manifest["recipe"]["training"]["learning_rate"] == (3e-3 if run_name == "lora_run" else 1e-3)
    assert manifest["metrics"]["tokens_seen"] > 0 and manifest["metrics"]["first_loss"] == losses[0]


def test_lora_adapter_saves_and_reloads(lora_run, tiny_llama_dir, training_blocks):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = lora_run.output_dir
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists()  # an adapter, not a copy of the backbone
    base_loss = mean_loss(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), training_blocks)
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), out)
    assert mean_loss(adapted, training_blocks) < base_loss - 0.2


def test_full_checkpoint_saves_and_reloads(full_run, tiny_llama_dir, training_blocks):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = full_run.output_dir
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert AutoTokenizer.from_pretrained(out).chat_template  # servable as a chat model
    base_loss = mean_loss(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), training_blocks)
    assert mean_loss(AutoModelForCausalLM.from_pretrained(out), training_blocks) < base_loss - 0.5


def test_resume_continues_from_the_same_step(tiny_llama_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    recipe = tiny_recipe(tiny_llama_dir, data_dir, out, use_peft=False, learning_rate=1e-3, max_steps=6, save_steps=3)
    first = run_training(recipe)
    reference = {h["step"]: h["loss"] for h in first.manifest["log_history"] if "loss" in h}

    with pytest.raises(RunError, match="--resume"):
        run_training(recipe)  # never silently trains over an existing run

    # Simulate a crash after step 3: only checkpoint-3 survives.
    for path in out.iterdir():
        if path.name != "checkpoint-3":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    resumed = run_training(recipe, resume=True)
    metrics = resumed.manifest["metrics"]
    assert metrics["resumed_from_step"] == 3 and metrics["global_step"] == 6
    steps = {h["step"]: h["loss"] for h in resumed.manifest["log_history"] if "loss" in h and h["step"] > 3}
    assert sorted(steps) == [4, 5, 6]
    for step, loss in steps.items():  # same data order, same weights: the same run, continued
        assert loss == pytest.approx(reference[step], rel=1e-3)


def test_resume_without_checkpoint_fails(tiny_llama_dir, data_dir, tmp_path):
    recipe = tiny_recipe(tiny_llama_dir, data_dir, tmp_path / "empty")
    with pytest.raises(RunError, match="no checkpoint"):
        run_training(recipe, resume=True)


def test_overwrite_replaces_an_earlier_run(tiny_llama_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    (out / "checkpoint-9").mkdir(parents=True)  # what an earlier, different run left
    result = run_training(tiny_recipe(tiny_llama_dir, data_dir, out, max_steps=1), overwrite=True)
    assert not (out / "checkpoint-9").exists() and result.manifest["metrics"]["global_step"] == 1


def test_bad_template_fails_before_training(tmp_path, tiny_llama_dir, data_dir):
    from training.chat_masks import ChatTemplateError

    template = tmp_path / "flat.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}\n{% endfor %}")
    recipe = tiny_recipe(tiny_llama_dir, data_dir, tmp_path / "out")
    recipe.backbone.chat_template_path = str(template)
    with pytest.raises(ChatTemplateError, match="add_generation_prompt"):
        run_training(recipe)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_optimizer_is_the_recipes(tiny_llama_dir, data_dir, tmp_path):
    """The study's AdamW (beta2 0.95, eps 1e-8, fused) reaches the optimizer from the recipe."""
    from transformers import Trainer

    from training.recipe_files import load_recipe
    from training.trainer import load_model

    study = load_recipe("exp_2_111", check_files=False).training
    recipe = tiny_recipe(tiny_llama_dir, data_dir, tmp_path, use_peft=False, optim=study.optim.value,
                         adam_beta2=study.adam_beta2, adam_epsilon=study.adam_epsilon)
    trainer = Trainer(model=load_model(recipe), args=recipe.training)
    [group, *_] = trainer.create_optimizer().param_groups
    assert (group["betas"], group["eps"], group["fused"]) == ((0.9, 0.95), 1e-8, True)


@pytest.fixture(scope="module")
def base_like_run(tiny_llama_dir, data_dir, tmp_path_factory):
    """A full run on a "base" backbone: its EOS (<|endoftext|>) is not the template's end of turn (<|im_end|>),
    as Llama-3.1-8B's <|end_of_text|> is not the study template's <|eot_id|>."""
    from transformers import AutoTokenizer, GenerationConfig

    from training import REPO_ROOT

    backbone = tmp_path_factory.mktemp("base-like") / "model"
    shutil.copytree(tiny_llama_dir, backbone)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    tokenizer.eos_token = "<|endoftext|>"
    tokenizer.chat_template = None
    tokenizer.save_pretrained(backbone)
    GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id).save_pretrained(backbone)
    recipe = tiny_recipe(backbone, data_dir, tmp_path_factory.mktemp("runs") / "base-like", use_peft=False,
                         max_steps=2, save_steps=1)
    recipe.backbone.chat_template_path = str(REPO_ROOT / "training" / "templates" / "chatml.jinja")
    return run_training(recipe), tokenizer


def test_a_trained_base_model_stops_at_the_end_of_its_turn(base_like_run):
    from transformers import GenerationConfig

    result, tokenizer = base_like_run
    end_of_turn, eos = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")
    saved = GenerationConfig.from_pretrained(result.output_dir).eos_token_id
    assert set(saved) == {eos, end_of_turn} and result.manifest["stop_token_ids"] == saved
    # Intermediate checkpoints, which may be served too, stop there as well.
    assert GenerationConfig.from_pretrained(result.output_dir / "checkpoint-1").eos_token_id == saved


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_stops_the_served_checkpoint_at_the_end_of_its_turn(base_like_run, tmp_path):
    """Served as the arena serves it (no stop tokens in the request), the answer ends at <|im_end|>.

    The sampler may only pick <|im_end|>: a server that does not treat it as a stop token writes it max_tokens times."""
    import httpx

    from models_serving.vllm_process import VLLMServer, VLLMServerSpec

    result, tokenizer = base_like_run
    spec = VLLMServerSpec(model=str(result.output_dir), served_name="base-like", dtype="float32", max_model_len=512)
    server = VLLMServer(spec, tmp_path / "vllm.log").start()
    try:
        server.wait_healthy(timeout=600)
        reply = httpx.post(f"{server.base_url}/chat/completions", timeout=120, json={
            "model": "base-like", "messages": [{"role": "user", "content": "Kaixo"}], "max_tokens": 8,
            "allowed_token_ids": [tokenizer.convert_tokens_to_ids("<|im_end|>")]}).json()
    finally:
        server.stop()
    assert reply["choices"][0]["finish_reason"] == "stop", reply
    assert reply["usage"]["completion_tokens"] == 1, reply


@pytest.mark.slow
def test_two_processes_load_in_bf16_after_the_distributed_state(tiny_llama_dir, data_dir, tmp_path):
    """Under ``accelerate launch`` with FSDP (its environment, 2 gloo processes), from_pretrained must already see
    FSDP's cpu_ram_efficient_loading, and each rank holds bf16 parameters: half the float32 bytes it held before.

    FSDP's sharding itself needs GPUs (accelerate enables FSDP for GPU process groups only), so it is not run here."""
    import json
    import os
    import subprocess
    import sys

    from training import REPO_ROOT

    env = {**os.environ, "ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_CPU_RAM_EFFICIENT_LOADING": "true",
           "FSDP_SYNC_MODULE_STATES": "true", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    str(REPO_ROOT / "tests" / "training" / "fsdp_rank.py"), str(tiny_llama_dir), str(data_dir),
                    str(tmp_path)], env=env, check=True, capture_output=True, timeout=600, cwd=REPO_ROOT)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for report in ranks:
        assert report["world_size"] == 2 and report["fsdp_loading"] is True
        assert report["parameter_bytes"] * 2 == report["float32_bytes"]
