"""Real (tiny) training runs: loss goes down, LoRA and full save and reload, resume continues the same run."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from training.manifest import TRAINING_MANIFEST
from training.trainer import RunError, run_training

from tests.training.factories import tiny_recipe


def mean_loss(model, dataset) -> float:
    model.eval()
    losses = []
    with torch.no_grad():
        for row in dataset.select(range(min(8, len(dataset)))):
            batch = {k: torch.tensor([row[k]]) for k in ("input_ids", "attention_mask", "labels")}
            losses.append(model(**batch).loss.item())
    return sum(losses) / len(losses)


@pytest.fixture(scope="module")
def training_blocks(tiny_llama_dir, data_dir, tmp_path_factory):
    from training.data_mixing import build_training_set
    from training.trainer import load_tokenizer

    recipe = tiny_recipe(tiny_llama_dir, data_dir, tmp_path_factory.mktemp("unused"))
    dataset, _ = build_training_set(load_tokenizer(recipe), recipe.data, seed=1)
    return dataset


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
