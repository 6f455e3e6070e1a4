"""Recipe files: YAML sections, ``inherit``, and command-line overrides, parsed into a ``config.Recipe``.

    inherit: base        # optional: a recipe in the same folder whose sections this file extends key by key
    name: exp_2_111      # optional: the file name
    description: …
    study_config: …      # the study's Axolotl config this recipe reproduces; absent or null: an addition
    model:    {…}        # trl.ModelConfig fields (LoRA included), plus backbone_kind and chat_template_path
    data:     {…}        # config.DataArguments fields: sources, concatenate or mix, eval_sources, max_length, …
    training: {…}        # transformers.TrainingArguments fields, plus global_batch_size

Overrides are those classes' own options and win over the file: ``--learning_rate 2e-5 --num_train_epochs 1``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from transformers import TrainingArguments
from trl import ModelConfig

from training import RECIPES_DIR
from training.config import (
    BackboneArguments, BatchArguments, DataArguments, Recipe, RecipeError, check_keys, derive_batch, parse_arguments,
    resolve_path, validate_recipe,
)

SECTIONS = {"model": [ModelConfig, BackboneArguments], "data": [DataArguments],
            "training": [TrainingArguments, BatchArguments]}
PLAIN_KEYS = ("inherit", "name", "description", "study_config")
DEFAULT_OUTPUT_DIR = "var/training/runs/{name}"


def find_recipe(name_or_path: str | Path) -> Path:
    """A YAML file given by path (relative to here or to the repository root) or by name in training/recipes/."""
    for candidate in (Path(name_or_path), resolve_path(str(name_or_path)), RECIPES_DIR / f"{name_or_path}.yaml"):
        if candidate.is_file():
            return candidate.resolve()
    raise RecipeError(f"recipe {name_or_path} does not exist (give a YAML path or a name in {RECIPES_DIR})")


def read_recipe_file(path: Path, _inheriting: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping with its ``inherit`` chain applied (sections extend the parent's key by key)."""
    if path in _inheriting:
        raise RecipeError(f"inherit loops back to {path.name}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path} must be a mapping at the top level")
    for key, value in data.items():
        if key not in SECTIONS and key not in PLAIN_KEYS:
            raise RecipeError(f"unknown key {key}; a recipe has {', '.join((*PLAIN_KEYS, *SECTIONS))}")
        if key in SECTIONS and not isinstance(value, dict):
            raise RecipeError(f"{key}: expected a mapping, got {value!r}")
    parent_name = data.pop("inherit", None)
    if parent_name is None:
        return data
    parent_path = path.parent / f"{parent_name}.yaml"
    if not parent_path.is_file():
        raise RecipeError(f"inherit: {parent_path} does not exist")
    parent = read_recipe_file(parent_path, (*_inheriting, path))
    parent.pop("name", None)  # a name, and the study run it reproduces, belong to one file
    parent.pop("study_config", None)
    merged = {**parent, **data}
    for section in SECTIONS:
        if section in parent or section in data:
            merged[section] = {**parent.get(section, {}), **data.get(section, {})}
    return merged


def recipe_from_dict(data: dict[str, Any], overrides: list[str] = (), *, path: str | None = None) -> Recipe:
    """Parse a recipe mapping (sections as in a file, no ``inherit``) and command-line ``overrides``."""
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise RecipeError("name is empty")
    sections = {section: dict(data.get(section) or {}) for section in SECTIONS}
    for section, types in SECTIONS.items():
        check_keys(types, sections[section], section)
    training = sections["training"]
    training.setdefault("output_dir", DEFAULT_OUTPUT_DIR.format(name=name))
    if not {"bf16", "fp16"} & (set(training) | _option_names(overrides)):
        training["bf16"] = _gpu_has_bf16()  # neither asked for: bf16 where the GPU has it, fp32 elsewhere
    flat = {key: value for values in sections.values() for key, value in values.items()}
    model, backbone, data_args, training_args, batch = parse_arguments(
        [*SECTIONS["model"], *SECTIONS["data"], *SECTIONS["training"]], flat, argv=list(overrides))
    derive_batch(training_args, batch, explicit=set(training) | _option_names(overrides))
    # Relative paths in recipes are relative to the repository root, wherever the command runs.
    training_args.output_dir = str(resolve_path(training_args.output_dir))
    study_config = data.get("study_config")
    if study_config is not None and not isinstance(study_config, str):
        raise RecipeError(f"study_config: expected the study's config file name or null, got {study_config!r}")
    return Recipe(name=name, description=str(data.get("description") or ""), study_config=study_config,
                  model=model, backbone=backbone,
                  data=data_args, training=training_args, batch=batch, path=path, overrides=list(overrides))


def load_recipe(name_or_path: str | Path, overrides: list[str] = (), *, check_files: bool = True) -> Recipe:
    """Read, inherit, override, parse and validate a recipe; a RecipeError names the file and what to fix."""
    path = find_recipe(name_or_path)
    try:
        data = read_recipe_file(path)
        data.setdefault("name", path.stem)
        recipe = recipe_from_dict(data, overrides, path=str(path))
        validate_recipe(recipe, check_files=check_files)
    except RecipeError as exc:
        raise RecipeError(f"recipe {path}: {exc}") from None
    return recipe


def _option_names(argv: list[str]) -> set[str]:
    return {token[2:].split("=")[0].replace("-", "_") for token in argv if token.startswith("--")}


def _gpu_has_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
