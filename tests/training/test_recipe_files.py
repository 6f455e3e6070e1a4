"""Recipe files: the shipped study grid and demo, inherit, command-line overrides, and file-level errors."""
from __future__ import annotations

import re

import pytest
import yaml

from training import REPO_ROOT, RECIPES_DIR
from training.config import RecipeError
from training.recipe_files import load_recipe

from tests.training.factories import recipe_data, write_jsonl

GRID = re.compile(r"exp_([012])_([01])([01])([01])")
BACKBONES = {"0": ("meta-llama/Llama-3.1-8B", "base"), "1": ("HiTZ/Latxa-Llama-3.1-8B", "basque_base"),
             "2": ("meta-llama/Llama-3.1-8B-Instruct", "instruct")}
# The study's 8B runs (hitz-zentroa/latxa-instruct, model_training/train_configs/exp_*_fixed.yaml) and its 70B run.
STUDY_8B = {"exp_0_010", "exp_0_011", "exp_0_101", "exp_0_110", "exp_0_111", "exp_1_001", "exp_1_010", "exp_1_011",
            "exp_1_101", "exp_1_110", "exp_1_111", "exp_2_010", "exp_2_011", "exp_2_100", "exp_2_101", "exp_2_110",
            "exp_2_111"}


def test_each_grid_recipe_states_only_its_place_in_the_grid():
    files = sorted(path for path in RECIPES_DIR.glob("exp_*.yaml") if GRID.fullmatch(path.stem))
    for path in files:
        backbone, *flags = GRID.fullmatch(path.stem).groups()
        content = yaml.safe_load(path.read_text())
        assert content.keys() <= {"inherit", "study_config", "model", "data", "training"} and content["inherit"] == "base"
        assert content["data"].keys() == {"concatenate"}
        recipe = load_recipe(path.stem, check_files=False)
        assert recipe.name == path.stem
        assert (recipe.model.model_name_or_path, recipe.backbone.backbone_kind) == BACKBONES[backbone]
        used = [name for name, flag in zip(("corpus", "eu_instructions", "en_instructions"), flags) if flag == "1"]
        assert recipe.data.concatenate == used and not recipe.data.mix  # every source in full, as the study
        # One Llama-3.1 template, with its system block, for every backbone (as the study).
        assert recipe.backbone.chat_template_path == "training/templates/llama31.jinja"
        assert recipe.training.output_dir == str(REPO_ROOT / "var" / "training" / "runs" / path.stem)


def test_the_studys_runs_are_marked_and_the_additions_are_not():
    marked = {path.stem: load_recipe(path.stem, check_files=False).study_config
              for path in RECIPES_DIR.glob("exp_*.yaml")}
    study = {name for name, config in marked.items() if config}
    assert study == STUDY_8B | {"exp_2_101_70b"}
    assert all(marked[name] == f"{name}_fixed.yaml" for name in STUDY_8B)
    assert set(marked) - study == {"exp_0_001", "exp_0_100", "exp_1_100", "exp_2_001"}  # our additions
    assert load_recipe("exp_2_101_70b", check_files=False).model.model_name_or_path == "meta-llama/Llama-3.1-70B-Instruct"


def test_the_base_file_holds_the_studys_hyperparameters():
    recipe = load_recipe("exp_2_111", check_files=False)
    t = recipe.training
    assert (t.learning_rate, t.lr_scheduler_type.value, t.lr_scheduler_kwargs, t.warmup_steps, t.weight_decay,
            t.num_train_epochs, t.neftune_noise_alpha) == (1e-5, "cosine_with_min_lr", {"min_lr_rate": 0.33}, 0.1, 0.1,
                                                           4, 5.0)
    assert (t.optim.value, t.adam_beta1, t.adam_beta2, t.adam_epsilon) == ("adamw_torch_fused", 0.9, 0.95, 1e-8)
    assert recipe.model.dtype == "bfloat16" and recipe.data.max_length == 8192
    # 4 evaluations on held-out instructions and 4 saves per epoch over 4 epochs; seeds 33 (42 for exp_2_010).
    assert (t.eval_strategy.value, t.eval_steps, t.save_steps, t.save_total_limit) == ("steps", 1 / 16, 1 / 16, 4)
    assert recipe.data.eval_sources == ["eu_eval", "en_eval"]
    assert t.seed == 33 and load_recipe("exp_2_010", check_files=False).training.seed == 42
    # The global batch, 256 sequences: here (one process) 2 per step x 128 accumulated.
    assert recipe.batch.global_batch_size == 256
    assert (t.per_device_train_batch_size, t.gradient_accumulation_steps) == (2, 128)
    with pytest.raises(RecipeError, match="model_name_or_path is empty"):
        load_recipe("base", check_files=False)  # shared values, not a recipe of its own


@pytest.mark.parametrize("world, per_device, accumulation", [(1, 2, 128), (8, 2, 16), (128, 2, 1), (256, 1, 1)])
def test_global_batch_is_derived_from_the_world_size(monkeypatch, world, per_device, accumulation):
    from transformers import TrainingArguments

    from training.config import effective_global_batch

    monkeypatch.setattr(TrainingArguments, "world_size", property(lambda self: world))
    recipe = load_recipe("exp_2_111", check_files=False)
    t = recipe.training
    assert (t.per_device_train_batch_size, t.gradient_accumulation_steps) == (per_device, accumulation)
    assert effective_global_batch(t) == 256 == recipe.to_dict()["batch"]["effective_global_batch"]


def test_global_batch_errors_are_clear(monkeypatch):
    from transformers import TrainingArguments

    with pytest.raises(RecipeError, match="global_batch_size or gradient_accumulation_steps, not both"):
        load_recipe("exp_2_111", ["--gradient_accumulation_steps", "4"], check_files=False)
    monkeypatch.setattr(TrainingArguments, "world_size", property(lambda self: 3))
    with pytest.raises(RecipeError, match="global_batch_size 256 must be a positive multiple of the 3 processes"):
        load_recipe("exp_2_111", check_files=False)


def test_demo_recipe_is_a_lora_run():
    recipe = load_recipe(RECIPES_DIR / "demo.yaml", check_files=False)
    assert recipe.model.use_peft and recipe.model.lora_target_modules == "all-linear"
    assert recipe.data.mix == {"corpus": 0.7, "instructions": 0.3} and recipe.training.bf16 is False


@pytest.fixture
def recipe_dir(tmp_path):
    write_jsonl(tmp_path / "corpus.jsonl", [{"text": "Kaixo."}])
    write_jsonl(tmp_path / "instructions.jsonl", [{"messages": [{"role": "user", "content": "Kaixo"},
                                                               {"role": "assistant", "content": "Kaixo!"}]}])
    parent = recipe_data(tmp_path)
    del parent["name"]
    (tmp_path / "parent.yaml").write_text(yaml.safe_dump(parent))
    return tmp_path


def write(directory, name, data) -> str:
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return str(directory / f"{name}.yaml")


def test_inherit_extends_sections_key_by_key(recipe_dir):
    child = write(recipe_dir, "child", {"inherit": "parent", "data": {"mix": {"eu": 1.0}},
                                        "training": {"learning_rate": 1e-4}})
    recipe = load_recipe(child)
    assert recipe.name == "child"  # names are not inherited: the file name
    assert recipe.data.mix == {"eu": 1.0} and set(recipe.data.sources) == {"corpus", "eu"}  # mix replaced whole
    assert recipe.training.learning_rate == 1e-4 and recipe.training.num_train_epochs == 1  # the rest inherited
    assert recipe.training.output_dir == str(REPO_ROOT / "var" / "training" / "runs" / "child")


def test_command_line_overrides_win(recipe_dir):
    path = write(recipe_dir, "r", {"inherit": "parent"})
    recipe = load_recipe(path, ["--learning_rate", "2e-5", "--num_train_epochs", "2", "--mix", '{"corpus": 1}',
                                "--output_dir", "var/training/runs/x", "--use_peft", "false"])
    assert (recipe.training.learning_rate, recipe.training.num_train_epochs) == (2e-5, 2)
    assert recipe.data.mix == {"corpus": 1.0} and recipe.model.use_peft is False
    assert recipe.training.output_dir == str(REPO_ROOT / "var" / "training" / "runs" / "x")  # repo-relative
    assert recipe.overrides[:2] == ["--learning_rate", "2e-5"]


def test_bf16_follows_the_hardware_unless_the_recipe_says(recipe_dir):
    import torch

    path = write(recipe_dir, "r", {"inherit": "parent"})
    assert load_recipe(path).training.bf16 == (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    assert load_recipe(path, ["--bf16", "false"]).training.bf16 is False


@pytest.mark.parametrize("content, overrides, message", [
    ({"inherit": "parent", "colour": "blue"}, [], r"unknown key colour; a recipe has inherit, name, description"),
    ({"inherit": "parent", "training": {"lerning_rate": 1}}, [], r"unknown key training\.lerning_rate"),
    ({"inherit": "parent", "model": {"learning_rate": 1}}, [], r"unknown key model\.learning_rate"),
    ({"inherit": "parent"}, ["--bogus", "1"], r"unknown option --bogus"),
    ({"inherit": "missing"}, [], r"inherit: .*missing\.yaml does not exist"),
    ({"inherit": "r"}, [], r"inherit loops back"),
    ({"inherit": "parent", "data": ["not", "a", "mapping"]}, [], r"data: expected a mapping"),
])
def test_bad_recipe_files_name_file_and_key(recipe_dir, content, overrides, message):
    path = write(recipe_dir, "r", content)
    with pytest.raises(RecipeError, match=rf"recipe {re.escape(path)}: {message}"):
        load_recipe(path, overrides)


def test_missing_recipe():
    with pytest.raises(RecipeError, match="recipe no_such_recipe does not exist"):
        load_recipe("no_such_recipe")
