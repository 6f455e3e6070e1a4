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


def test_each_study_recipe_states_only_its_grid_values():
    files = sorted(RECIPES_DIR.glob("exp_*.yaml"))
    assert len(files) == 21  # 3 backbones x 7 non-empty data combinations
    for path in files:
        backbone, *flags = GRID.fullmatch(path.stem).groups()
        content = yaml.safe_load(path.read_text())
        assert content.keys() == {"inherit", "model", "data"} and content["inherit"] == "base"
        assert content["data"].keys() == {"mix"}
        recipe = load_recipe(path.stem, check_files=False)
        assert recipe.name == path.stem
        assert (recipe.model.model_name_or_path, recipe.backbone.backbone_kind) == BACKBONES[backbone]
        used = [name for name, flag in zip(("corpus", "eu_instructions", "en_instructions"), flags) if flag == "1"]
        assert list(recipe.data.mix) == used
        assert all(share == pytest.approx(1 / len(used), abs=1e-6) for share in recipe.data.mix.values())
        # Base backbones ship no chat template, and the instruction data needs one.
        assert (recipe.backbone.chat_template_path is not None) == (backbone != "2")
        assert recipe.training.output_dir == str(REPO_ROOT / "var" / "training" / "runs" / path.stem)


def test_the_base_file_holds_the_papers_hyperparameters():
    t = load_recipe("exp_2_111", check_files=False).training
    assert (t.learning_rate, t.lr_scheduler_type.value, t.lr_scheduler_kwargs, t.warmup_steps, t.weight_decay,
            t.num_train_epochs, t.neftune_noise_alpha) == (1e-5, "cosine_with_min_lr", {"min_lr_rate": 0.33}, 0.1, 0.1,
                                                           4, 5.0)
    with pytest.raises(RecipeError, match="model_name_or_path is empty"):
        load_recipe("base", check_files=False)  # shared values, not a recipe of its own


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
