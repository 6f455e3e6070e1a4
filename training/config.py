"""Recipes: YAML files parsed strictly into dataclasses.

Everything a run needs is in the recipe, so a run can be repeated from its manifest. Unknown keys,
missing files, bad proportions and wrong types fail here, before any model is loaded.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training import REPO_ROOT

PROPORTION_TOLERANCE = 1e-6


class RecipeError(ValueError):
    """A recipe that cannot run; the message says what to fix."""


@dataclass
class BackboneConfig:
    # A local checkpoint folder (relative to the repo root) or a Hub id (downloaded by transformers when online).
    path: str = ""
    # base | basque_base | instruct: the study's backbone axis (0, 1, 2 in the recipe names).
    kind: str = "instruct"
    # Jinja file that replaces the tokenizer's chat template (base backbones often have none).
    chat_template: str | None = None
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16


@dataclass
class DataSource:
    name: str = ""
    # corpus: plain text, loss on every token. instructions: {"messages": [...]}, loss on assistant turns.
    kind: str = "corpus"
    paths: list[str] = field(default_factory=list)  # files or glob patterns (JSONL)
    proportion: float = 0.0  # share of the mixed training tokens
    text_field: str = "text"  # corpus only
    exclude_sources: list[str] = field(default_factory=list)  # corpus only: drop docs whose "source" matches


@dataclass
class DataConfig:
    sources: list[DataSource] = field(default_factory=list)
    max_length: int = 8192  # packed sequence length
    # Size of the mix in tokens. None: as large as the scarcest source allows without repeating it.
    total_tokens: int | None = None
    max_docs_per_source: int | None = None  # cap on documents read per source (quick experiments)
    seed: int = 42


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"


@dataclass
class TrainingConfig:
    method: str = "full"  # full | lora
    learning_rate: float = 1e-5
    lr_scheduler: str = "cosine_with_min_lr"
    min_lr_ratio: float = 0.33
    warmup_ratio: float = 0.1
    weight_decay: float = 0.1
    epochs: float = 4
    max_steps: int = -1  # > 0 overrides epochs
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    neftune_alpha: float | None = 5.0
    max_grad_norm: float = 1.0
    precision: str = "auto"  # auto (bf16 on a GPU that has it, else fp32) | fp32 | bf16 | fp16
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    seed: int = 42
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass
class Recipe:
    name: str = ""
    description: str = ""
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


BACKBONE_KINDS = {"base", "basque_base", "instruct"}
SOURCE_KINDS = {"corpus", "instructions"}
METHODS = {"full", "lora"}
PRECISIONS = {"auto", "fp32", "bf16", "fp16"}
DTYPES = {"auto", "float32", "bfloat16", "float16"}


def resolve_path(value: str) -> Path:
    """Expand ~ and $VARS; relative paths are relative to the repository root."""
    path = Path(os.path.expandvars(os.path.expanduser(value)))
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def expand_paths(patterns: list[str]) -> list[Path]:
    """Files matched by ``patterns``, sorted per pattern, so a run reads data in a stable order."""
    files: list[Path] = []
    for pattern in patterns:
        resolved = str(resolve_path(pattern))
        matches = sorted(glob.glob(resolved)) if glob.has_magic(resolved) else ([resolved] if Path(resolved).is_file() else [])
        files.extend(Path(m) for m in matches)
    return files


def looks_like_local_path(value: str) -> bool:
    """Hub ids are ``owner/name``; anything with ./, /, ~, $ or more than one slash is a local path."""
    return value.startswith((".", "/", "~", "$")) or value.count("/") != 1 or resolve_path(value).exists()


# --- strict construction ---------------------------------------------------------------------------

def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check_type(value, arg, where)
            except RecipeError as exc:
                errors.append(str(exc))
        raise RecipeError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        return [_check_type(item, args[0], f"{where}[{i}]") for i, item in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is float:
        if isinstance(value, str):
            # PyYAML reads 1e-5 (no dot) as a string; accept what Python would read as a number.
            try:
                return float(value)
            except ValueError:
                raise RecipeError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: Any, where: str):
    if not isinstance(data, dict):
        raise RecipeError(f"{where or 'recipe'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise RecipeError(
            f"unknown key(s) {', '.join(prefix + k for k in unknown)}; known keys here: {', '.join(sorted(known))}"
        )
    kwargs = {key: _check_type(value, hints[key], f"{where}.{key}" if where else key) for key, value in data.items()}
    return cls(**kwargs)


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    return _build(Recipe, data, "")


# --- overrides ---------------------------------------------------------------------------------------

def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--training.learning_rate 2e-5`` style pairs (values parsed as YAML) to the raw recipe."""
    if len(overrides) % 2:
        raise RecipeError(f"overrides come in '--key value' pairs, got: {' '.join(overrides)}")
    for raw_key, raw_value in zip(overrides[::2], overrides[1::2]):
        if not raw_key.startswith("--"):
            raise RecipeError(f"override keys start with '--', got {raw_key!r}")
        parts = raw_key[2:].replace("-", "_").split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = _list_item(node, part, ".".join(parts[: depth + 1]))
                continue
            node = node.setdefault(part, {})
        value = yaml.safe_load(raw_value)
        if isinstance(node, list):
            raise RecipeError(f"cannot replace a whole list item with --{'.'.join(parts)}")
        node[parts[-1]] = value
    return data


def _list_item(items: list, part: str, where: str):
    # Data sources are addressed by name: --data.sources.corpus.proportion 0.5
    for item in items:
        if isinstance(item, dict) and item.get("name") == part:
            return item
    if part.isdigit() and int(part) < len(items):
        return items[int(part)]
    raise RecipeError(f"override {where}: no list item named {part!r}")


# --- validation ---------------------------------------------------------------------------------------

def validate_recipe(recipe: Recipe, *, check_files: bool = True) -> None:
    """Everything that can be checked without loading a model."""
    if not recipe.name:
        raise RecipeError("recipe.name is empty")
    if not recipe.backbone.path:
        raise RecipeError("backbone.path is empty: give a checkpoint folder or a Hub id")
    if recipe.backbone.kind not in BACKBONE_KINDS:
        raise RecipeError(f"backbone.kind {recipe.backbone.kind!r} is not one of {sorted(BACKBONE_KINDS)}")
    if recipe.backbone.dtype not in DTYPES:
        raise RecipeError(f"backbone.dtype {recipe.backbone.dtype!r} is not one of {sorted(DTYPES)}")
    t = recipe.training
    if t.method not in METHODS:
        raise RecipeError(f"training.method {t.method!r} is not one of {sorted(METHODS)}")
    if t.precision not in PRECISIONS:
        raise RecipeError(f"training.precision {t.precision!r} is not one of {sorted(PRECISIONS)}")
    if t.learning_rate <= 0 or not 0 <= t.warmup_ratio < 1 or not 0 <= t.min_lr_ratio <= 1:
        raise RecipeError("training: learning_rate must be > 0, warmup_ratio in [0, 1), min_lr_ratio in [0, 1]")
    if t.epochs <= 0 and t.max_steps <= 0:
        raise RecipeError("training: set epochs > 0 or max_steps > 0")
    if t.per_device_batch_size < 1 or t.gradient_accumulation_steps < 1:
        raise RecipeError("training: per_device_batch_size and gradient_accumulation_steps must be >= 1")
    if recipe.data.max_length < 16:
        raise RecipeError(f"data.max_length {recipe.data.max_length} is too small (>= 16)")

    sources = recipe.data.sources
    if not sources:
        raise RecipeError("data.sources is empty: give at least one corpus or instructions source")
    names = [s.name for s in sources]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise RecipeError(f"data.sources need unique, non-empty names, got {names}")
    for source in sources:
        if source.kind not in SOURCE_KINDS:
            raise RecipeError(f"data.sources.{source.name}.kind {source.kind!r} is not one of {sorted(SOURCE_KINDS)}")
        if not 0 < source.proportion <= 1:
            raise RecipeError(f"data.sources.{source.name}.proportion must be in (0, 1], got {source.proportion}")
        if not source.paths:
            raise RecipeError(f"data.sources.{source.name}.paths is empty")
    total = sum(s.proportion for s in sources)
    if abs(total - 1.0) > PROPORTION_TOLERANCE:
        detail = ", ".join(f"{s.name}={s.proportion:g}" for s in sources)
        raise RecipeError(f"data.sources proportions must sum to 1, they sum to {total:g} ({detail})")

    if not check_files:
        return
    for source in sources:
        for pattern in source.paths:
            if not expand_paths([pattern]):
                raise RecipeError(
                    f"data.sources.{source.name}: no file matches {pattern!r} (looked at {resolve_path(pattern)})"
                )
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    if (offline or looks_like_local_path(recipe.backbone.path)) and not resolve_path(recipe.backbone.path).is_dir():
        raise RecipeError(f"backbone.path {recipe.backbone.path!r} is not a folder ({resolve_path(recipe.backbone.path)})")
    if recipe.backbone.chat_template and not resolve_path(recipe.backbone.chat_template).is_file():
        raise RecipeError(f"backbone.chat_template file {recipe.backbone.chat_template!r} does not exist")


def load_recipe(path: str | Path, overrides: list[str] | None = None, *, check_files: bool = True) -> Recipe:
    """Read, override, build and validate a recipe; raise RecipeError with a clear message otherwise."""
    path = Path(path)
    if not path.is_file():
        candidate = resolve_path(str(path))
        if not candidate.is_file():
            raise RecipeError(f"recipe file {path} does not exist")
        path = candidate
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path} must be a mapping at the top level")
    data = apply_overrides(data, list(overrides or []))
    data.setdefault("name", path.stem)
    try:
        recipe = recipe_from_dict(data)
    except RecipeError as exc:
        raise RecipeError(f"recipe {path}: {exc}") from None
    try:
        validate_recipe(recipe, check_files=check_files)
    except RecipeError as exc:
        raise RecipeError(f"recipe {path}: {exc}") from None
    return recipe
