"""Recipes: strict parsing, overrides, the shipped grid, and failures before any training starts."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from training import RECIPES_DIR
from training.chat_masks import ChatTemplateError
from training.config import RecipeError, load_recipe

from tests.training.helpers import make_recipe


def write_recipe(tmp_path: Path, tiny_llama_dir: Path, data_dir: Path, **changes) -> Path:
    data = {
        "name": "t",
        "backbone": {"path": str(tiny_llama_dir)},
        "data": {"max_length": 64, "sources": [
            {"name": "corpus", "kind": "corpus", "paths": [str(data_dir / "corpus.jsonl")], "proportion": 0.5},
            {"name": "eu", "kind": "instructions", "paths": [str(data_dir / "instructions.jsonl")], "proportion": 0.5},
        ]},
        "training": {"method": "lora"},
        "output_dir": str(tmp_path / "out"),
    }
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_valid_recipe_and_overrides(tmp_path, tiny_llama_dir, data_dir):
    path = write_recipe(tmp_path, tiny_llama_dir, data_dir)
    recipe = load_recipe(path, ["--training.learning_rate", "2e-5", "--data.sources.corpus.proportion", "0.25",
                                "--data.sources.eu.proportion", "0.75", "--training.lora.r", "8"])
    assert recipe.training.learning_rate == 2e-5
    assert [s.proportion for s in recipe.data.sources] == [0.25, 0.75]
    assert recipe.training.lora.r == 8
    assert recipe.training.min_lr_ratio == 0.33  # defaults are the paper's


@pytest.mark.parametrize("changes, overrides, message", [
    ({"training__lerning_rate": 1e-5}, [], r"unknown key\(s\) training\.lerning_rate"),
    ({"colour": "blue"}, [], r"unknown key\(s\) colour"),
    ({}, ["--training.nope", "1"], r"unknown key\(s\) training\.nope"),
    ({"data__sources__0__paths": ["/nonexistent/corpus.jsonl"]}, [], r"no file matches '/nonexistent/corpus\.jsonl'"),
    ({"backbone__path": "/nonexistent/model"}, [], r"backbone\.path .* is not a folder"),
    ({"data__sources__0__proportion": 0.7}, [], r"proportions must sum to 1, they sum to 1\.2 \(corpus=0\.7, eu=0\.5\)"),
    ({"training__learning_rate": "fast"}, [], r"training\.learning_rate: expected a number"),
    ({"training__method": "qlora"}, [], r"training\.method 'qlora' is not one of"),
    ({"data__sources__1__kind": "chat"}, [], r"data\.sources\.eu\.kind 'chat'"),
])
def test_bad_recipes_fail_with_a_clear_message(tmp_path, tiny_llama_dir, data_dir, changes, overrides, message):
    path = write_recipe(tmp_path, tiny_llama_dir, data_dir, **changes)
    with pytest.raises(RecipeError, match=message):
        load_recipe(path, overrides)


def test_missing_recipe_file():
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe("training/recipes/no_such_recipe.yaml")


def test_bad_template_fails_before_training(tmp_path, tiny_llama_dir, data_dir):
    from training.trainer import run_training

    template = tmp_path / "flat.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}\n{% endfor %}")
    recipe = make_recipe(tiny_llama_dir, data_dir, tmp_path / "out")
    recipe.backbone.chat_template = str(template)
    with pytest.raises(ChatTemplateError, match="add_generation_prompt"):
        run_training(recipe, progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


GRID = re.compile(r"exp_([012])_([01])([01])([01])\.yaml")


def test_the_study_grid_ships_with_the_papers_hyperparameters():
    files = sorted(p for p in RECIPES_DIR.glob("exp_*.yaml"))
    assert len(files) == 21  # 3 backbones x 7 non-empty data combinations
    kinds = {"0": "base", "1": "basque_base", "2": "instruct"}
    for path in files:
        backbone, corpus, eu, en = GRID.fullmatch(path.name).groups()
        recipe = load_recipe(path, check_files=False)
        assert recipe.name == path.stem and recipe.backbone.kind == kinds[backbone]
        names = {s.name for s in recipe.data.sources}
        assert names == {n for n, flag in (("corpus", corpus), ("eu_instructions", eu), ("en_instructions", en))
                         if flag == "1"}
        t = recipe.training
        assert (t.learning_rate, t.lr_scheduler, t.min_lr_ratio, t.warmup_ratio, t.weight_decay, t.epochs,
                t.neftune_alpha, recipe.data.max_length) == (1e-5, "cosine_with_min_lr", 0.33, 0.1, 0.1, 4, 5.0, 8192)
        if backbone != "2":
            assert recipe.backbone.chat_template  # base models need one for the instruction data


def test_demo_recipe_parses():
    recipe = load_recipe(RECIPES_DIR / "demo.yaml", check_files=False)
    assert recipe.training.method == "lora" and recipe.backbone.kind == "instruct"


def test_cli_reports_bad_recipes_without_a_traceback(tmp_path, tiny_llama_dir, data_dir, capsys):
    from training.__main__ import main

    path = write_recipe(tmp_path, tiny_llama_dir, data_dir, data__sources__1__proportion=0.2)
    assert main(["train", "--recipe", str(path)]) == 2
    assert "error: recipe" in capsys.readouterr().err
    assert main(["train", "--recipe", str(path), "--data.sources.eu.proportion", "0.5", "--training.bogus", "1"]) == 2
    assert "unknown key(s) training.bogus" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
