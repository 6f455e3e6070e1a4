"""Recipe objects: the trainer's argument classes parsed strictly, our data classes, and the checks before a run."""
from __future__ import annotations

import pytest
from transformers import TrainingArguments
from trl import ModelConfig

from training.config import BackboneArguments, DataArguments, RecipeError, parse_arguments, validate_recipe
from training.recipe_files import recipe_from_dict

from tests.training.factories import recipe_data, write_jsonl


def test_file_values_and_command_line_parse_into_the_library_classes(tmp_path):
    model, backbone, training = parse_arguments(
        [ModelConfig, BackboneArguments, TrainingArguments],
        {"model_name_or_path": "m", "use_peft": True, "lora_target_modules": "all-linear", "backbone_kind": "base",
         "output_dir": str(tmp_path), "learning_rate": "1e-5",  # PyYAML reads 1e-5 as a string
         "lr_scheduler_kwargs": {"min_lr_rate": 0.33}, "num_train_epochs": 4, "gradient_checkpointing": True},
        argv=["--num_train_epochs", "1", "--lora_r=8"])
    assert (model.use_peft, model.lora_r, model.lora_target_modules) == (True, 8, "all-linear")
    assert backbone.backbone_kind == "base"
    assert training.learning_rate == 1e-5 and training.num_train_epochs == 1  # the command line wins
    assert training.lr_scheduler_kwargs == {"min_lr_rate": 0.33} and training.gradient_checkpointing is True


@pytest.mark.parametrize("values, argv, message", [
    ({"lerning_rate": 1e-5}, [], r"unknown key training\.lerning_rate \(did you mean learning_rate\?\)"),
    ({}, ["--num_train_epoch", "1"], r"unknown option --num_train_epoch \(did you mean num_train_epochs\?\)"),
    ({"learning_rate": "fast"}, [], r"training: argument --learning_rate/--learning-rate: invalid float value: 'fast'"),
    ({"per_device_train_batch_size": 1.5}, [], r"invalid int value: '1\.5'"),
    ({"num_train_epochs": None}, [], r"training\.num_train_epochs cannot be null"),
    ({"lr_scheduler_type": "zigzag"}, [], r"invalid choice: 'zigzag'"),
])
def test_bad_values_name_the_key(tmp_path, values, argv, message):
    with pytest.raises(RecipeError, match=message):
        parse_arguments([TrainingArguments], {"output_dir": str(tmp_path), **values}, "training", argv)


def test_data_sources_and_mix_accept_json_from_the_command_line():
    [data] = parse_arguments([DataArguments], {}, "data", [
        "--sources", '{"corpus": {"kind": "corpus", "paths": ["a.jsonl", "b/*.jsonl"]}}', "--mix", '{"corpus": 1}'])
    assert data.sources["corpus"].paths == ["a.jsonl", "b/*.jsonl"] and data.sources["corpus"].text_field == "text"
    assert data.mix == {"corpus": 1.0}


@pytest.mark.parametrize("sources, mix, message", [
    ({"c": {"kind": "corpus", "paths": ["x"], "colour": "blue"}}, {"c": 1}, r"unknown key data\.sources\.c\.colour"),
    ({"c": {"kind": "chat", "paths": ["x"]}}, {"c": 1}, r"data\.sources\.c: argument --kind: invalid choice: 'chat'"),
    ({"c": {"paths": ["x"]}}, {"c": 1}, r"data\.sources\.c: the following arguments are required: --kind"),
    ({"c": {"kind": "corpus", "paths": ["x"]}}, {"c": "half"}, r"data\.mix\.c: a share must be a number"),
    ({"c": {"kind": "corpus", "paths": ["x"]}}, '{"c": ', r"data\.mix: not valid JSON"),
])
def test_bad_data_arguments_name_the_key(sources, mix, message):
    with pytest.raises(RecipeError, match=message):
        DataArguments(sources=sources, mix=mix)


@pytest.fixture
def small_files(tmp_path):
    write_jsonl(tmp_path / "corpus.jsonl", [{"text": "Kaixo."}])
    write_jsonl(tmp_path / "instructions.jsonl", [{"messages": [{"role": "user", "content": "Kaixo"},
                                                               {"role": "assistant", "content": "Kaixo!"}]}])
    return tmp_path


@pytest.mark.parametrize("changes, message", [
    ({"data": {"mix": {"corpus": 0.7, "eu": 0.5}}}, r"shares must sum to 1, they sum to 1\.2 \(corpus=0\.7, eu=0\.5\)"),
    ({"data": {"mix": {"corpus": 0.5, "en": 0.5}}}, r"data\.mix: en: no such source in data\.sources \(corpus, eu\)"),
    ({"data": {"mix": {}}}, r"give either concatenate \(sources in full, the study's way\) or mix"),
    ({"data": {"concatenate": ["corpus"]}}, r"give either concatenate"),  # and the factory's mix
    ({"data": {"mix": {}, "concatenate": ["corpus"], "total_tokens": 10}}, r"total_tokens sizes a mix"),
    ({"data": {"eval_sources": ["corpus"]}}, r"data\.eval_sources: corpus is also trained on"),
    ({"training": {"eval_strategy": "steps", "eval_steps": 10}}, r"eval_strategy is 'steps' but data\.eval_sources"),
    ({"data": {"sources": {"corpus": {"kind": "corpus", "paths": ["/nonexistent/*.jsonl"]},
                           "eu": {"kind": "corpus", "paths": ["x"]}}, "mix": {"corpus": 1}}},
     r"data\.sources\.corpus: no file matches '/nonexistent/\*\.jsonl'"),
    ({"model": {"model_name_or_path": "/nonexistent/model"}}, r"model_name_or_path '/nonexistent/model' is not a folder"),
    ({"model": {"chat_template_path": "/nonexistent.jinja"}}, r"chat_template_path file '/nonexistent\.jinja' does not"),
    ({"model": {"load_in_4bit": True}}, r"quantised training is not supported"),
    ({"training": {"num_train_epochs": 0}}, r"num_train_epochs or max_steps > 0"),
    ({"data": {"max_length": 8}}, r"data\.max_length 8 is too small"),
])
def test_recipes_that_cannot_run_fail_before_training(small_files, changes, message):
    recipe = recipe_from_dict(recipe_data(small_files, **changes))
    with pytest.raises(RecipeError, match=message):
        validate_recipe(recipe)


def test_sources_outside_the_mix_are_not_checked(small_files):
    recipe = recipe_from_dict(recipe_data(small_files, data={
        "sources": {"corpus": {"kind": "corpus", "paths": [str(small_files / "corpus.jsonl")]},
                    "later": {"kind": "instructions", "paths": ["var/not-generated-yet.jsonl"]}},
        "mix": {"corpus": 1.0}}))
    validate_recipe(recipe)
    assert list(recipe.data.selected_sources()) == ["corpus"]


def test_recipe_dict_is_json_ready(small_files):
    import json

    recipe = recipe_from_dict(recipe_data(small_files), ["--learning_rate", "1e-4"])
    saved = json.loads(json.dumps(recipe.to_dict()))
    assert saved["training"]["learning_rate"] == 1e-4 and saved["overrides"] == ["--learning_rate", "1e-4"]
    assert saved["model"]["use_peft"] is True and saved["data"]["mix"] == {"corpus": 0.6, "eu": 0.4}
