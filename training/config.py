"""What a recipe is: the trainer's own argument classes, three small ones of ours, and the checks before a run.

A recipe's ``training`` section is ``transformers.TrainingArguments`` and its ``model`` section TRL's
``ModelConfig`` (LoRA included). Only what those classes lack is defined here: the backbone's place in the
study grid and its chat template (``BackboneArguments``) and the data mix (``DataArguments``, ``DataSource``).
Every value, from a YAML file or the command line, goes through ``HfArgumentParser`` (``parse_arguments``),
so types, choices and unknown keys are checked the same way everywhere.
"""
from __future__ import annotations

import dataclasses
import difflib
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from transformers import HfArgumentParser, TrainingArguments
from trl import ModelConfig

from training import REPO_ROOT

SHARE_TOLERANCE = 1e-6


class RecipeError(ValueError):
    """A recipe that cannot run; the message says what to fix."""


@dataclass
class BackboneArguments:
    backbone_kind: Literal["base", "basque_base", "instruct"] = field(
        default="instruct", metadata={"help": "The study's backbone axis (0, 1, 2 in the recipe names)."})
    chat_template_path: str | None = field(
        default=None,
        metadata={"help": "Jinja file that replaces the tokenizer's chat template (base backbones ship none)."})


@dataclass
class DataSource:
    # corpus: plain text, loss on every token. instructions: {"messages": [...]}, loss on assistant turns.
    kind: Literal["corpus", "instructions"]
    paths: list[str]  # JSONL files or glob patterns
    text_field: str = "text"  # corpus only
    exclude_sources: list[str] = field(default_factory=list)  # corpus only: drop docs whose "source" matches


@dataclass
class DataArguments:
    sources: dict | str | None = field(default=None, metadata={
        "help": "Data sources by name: {kind, paths, text_field, exclude_sources}; JSON on the command line."})
    concatenate: list[str] | None = field(default=None, metadata={
        "help": "Sources trained on in full, concatenated and shuffled together (the study's shuffle_merged_datasets)."})
    mix: dict | str | None = field(default=None, metadata={
        "help": "Instead of concatenate: share of the training tokens per source name, summing to 1; JSON on the "
                "command line."})
    eval_sources: list[str] | None = field(default=None, metadata={
        "help": "Held-out instruction sources evaluated during training (eval_strategy/eval_steps say when)."})
    max_length: int = field(default=8192, metadata={
        "help": "Packed sequence length; longer examples are dropped (counted in the manifest), never cut."})
    total_tokens: int | None = field(default=None, metadata={
        "help": "mix only: size of the mix; unset: as large as the scarcest source allows without repeating it."})
    max_docs_per_source: int | None = field(default=None, metadata={"help": "Cap on documents read per source."})
    preprocessing_num_workers: int | None = field(default=None, metadata={
        "help": "Processes that tokenise (datasets.map num_proc); unset: one."})
    cache_dir: str = field(default="var/training/cache", metadata={
        "help": "Where tokenised sources are cached as Arrow files (reused by later runs and by the other ranks)."})

    def __post_init__(self):
        # The command line gives dicts as JSON strings (as TrainingArguments does for its dict fields).
        self.sources = {name: _data_source(entry, f"data.sources.{name}")
                        for name, entry in _json_mapping(self.sources, "data.sources").items()}
        self.mix = {name: _share(share, f"data.mix.{name}")
                    for name, share in _json_mapping(self.mix, "data.mix").items()}
        self.concatenate = list(self.concatenate or [])
        self.eval_sources = list(self.eval_sources or [])

    def selected_names(self) -> list[str]:
        return list(self.concatenate) if self.concatenate else list(self.mix)

    def selected_sources(self) -> dict[str, DataSource]:
        """The sources trained on, in recipe order, then the held-out evaluation sources."""
        return {name: self.sources[name] for name in [*self.selected_names(), *self.eval_sources]}


@dataclass
class BatchArguments:
    global_batch_size: int | None = field(default=None, metadata={
        "help": "Sequences per optimizer step over all processes. per_device_train_batch_size is then the most a "
                "device holds, and gradient_accumulation_steps is derived from the world size."})


@dataclass
class Recipe:
    name: str
    model: ModelConfig
    backbone: BackboneArguments
    data: DataArguments
    training: TrainingArguments
    batch: BatchArguments = field(default_factory=BatchArguments)
    description: str = ""
    study_config: str | None = None  # the study's config file this recipe reproduces; None: not one of its runs
    path: str | None = None  # the file it was read from
    overrides: list[str] = field(default_factory=list)  # command-line arguments applied on top of the file

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "study_config": self.study_config,
                "path": self.path, "overrides": self.overrides,
                "model": dataclasses.asdict(self.model), "backbone": dataclasses.asdict(self.backbone),
                "data": dataclasses.asdict(self.data), "training": self.training.to_dict(),
                "batch": {**dataclasses.asdict(self.batch), "effective_global_batch": effective_global_batch(self.training)}}


# --- parsing -------------------------------------------------------------------------------------------

class _Parser(HfArgumentParser):
    where = ""

    def error(self, message):  # argparse would print its usage and exit the process
        raise RecipeError(f"{self.where}: {message}" if self.where else message)


def check_keys(types: list[type], values: dict[str, Any], where: str) -> dict[str, dataclasses.Field]:
    """The init fields of ``types``, after checking that every key of ``values`` is one of them."""
    known = {f.name: f for t in types for f in dataclasses.fields(t) if f.init}
    for key in values:
        if key not in known:
            raise RecipeError(f"unknown key {_dotted(where, key)}{_suggestion(key, known)}")
    return known


def parse_arguments(types: list[type], values: dict[str, Any], where: str = "", argv: list[str] = (),
                    prog: str | None = None) -> tuple:
    """``values`` (then the command-line ``argv``, which wins) parsed into ``types``, as one command line."""
    known = check_keys(types, values, where)
    tokens = [token for key, value in values.items() for token in _as_argv(known[key], value, where)]
    parser = _Parser(types, allow_abbrev=False, prog=prog)  # a misspelt option must not match a longer one
    parser.where = where
    *parsed, rest = parser.parse_args_into_dataclasses([*tokens, *argv], return_remaining_strings=True,
                                                       look_for_args_file=False)
    if rest:
        option = next((r for r in rest if r.startswith("-")), rest[0])
        raise RecipeError(f"unknown option {option}{_suggestion(option.lstrip('-').split('=')[0], known)}")
    return tuple(parsed)


def _as_argv(spec: dataclasses.Field, value: Any, where: str) -> list[str]:
    option = f"--{spec.name}"
    if value is None:
        if spec.default is not None:
            raise RecipeError(f"{_dotted(where, spec.name)} cannot be null")
        return []
    if isinstance(value, bool):
        return [f"{option}={str(value).lower()}"]
    if isinstance(value, list):
        return [option, *map(str, value)] if value else []
    if isinstance(value, dict):
        return [f"{option}={json.dumps(value)}"]
    return [f"{option}={value}"]


def _dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _suggestion(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _json_mapping(value, where: str) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{where}: not valid JSON ({exc})") from None
    return _mapping(value or {}, where)


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise RecipeError(f"{where}: expected a mapping, got {value!r}")
    return value


def _data_source(entry, where: str) -> DataSource:
    return entry if isinstance(entry, DataSource) else parse_arguments([DataSource], _mapping(entry, where), where)[0]


def _share(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise RecipeError(f"{where}: a share must be a number in (0, 1], got {value!r}")
    return float(value)


# --- paths ---------------------------------------------------------------------------------------------

def resolve_path(value: str) -> Path:
    """Expand ~ and $VARS; relative paths are relative to the repository root."""
    path = Path(os.path.expandvars(os.path.expanduser(value)))
    return (path if path.is_absolute() else REPO_ROOT / path).resolve()


def expand_paths(patterns: list[str]) -> list[Path]:
    """Files matched by ``patterns``, sorted per pattern, so a run reads data in a stable order."""
    files: list[Path] = []
    for pattern in patterns:
        resolved = str(resolve_path(pattern))
        if glob.has_magic(resolved):
            files.extend(Path(match) for match in sorted(glob.glob(resolved)))
        elif Path(resolved).is_file():
            files.append(Path(resolved))
    return files


def looks_like_local_path(value: str) -> bool:
    """Hub ids are ``owner/name``; anything with ./, /, ~, $ or more than one slash is a local path."""
    return value.startswith((".", "/", "~", "$")) or value.count("/") != 1 or resolve_path(value).exists()


# --- batch size --------------------------------------------------------------------------------------------

def effective_global_batch(training: TrainingArguments) -> int:
    return training.per_device_train_batch_size * training.gradient_accumulation_steps * training.world_size


def derive_batch(training: TrainingArguments, batch: BatchArguments, explicit: set[str]) -> None:
    """Per-device batch and accumulation from the global batch and this launch's world size (the study stated
    256 sequences: 2 per GPU on 128 GPUs); the same recipe then trains alike on 1, 8 or 128 devices."""
    if batch.global_batch_size is None:
        return
    if "gradient_accumulation_steps" in explicit:
        raise RecipeError("training: give global_batch_size or gradient_accumulation_steps, not both "
                          "(accumulation is derived from the global batch and the number of processes)")
    world = training.world_size  # also sets up the distributed state, before any model is loaded
    size = batch.global_batch_size
    if size < 1 or size % world:
        raise RecipeError(f"training.global_batch_size {size} must be a positive multiple of the {world} processes")
    per_process = size // world
    micro = min(training.per_device_train_batch_size, per_process)
    while per_process % micro:
        micro -= 1
    training.per_device_train_batch_size = micro
    training.gradient_accumulation_steps = per_process // micro


# --- checks before a run ---------------------------------------------------------------------------------

def validate_recipe(recipe: Recipe, *, check_files: bool = True) -> None:
    """What can be checked without loading a model; types and choices were checked while parsing."""
    model, data, training = recipe.model, recipe.data, recipe.training
    if not model.model_name_or_path:
        raise RecipeError("model.model_name_or_path is empty: give a checkpoint folder or a Hub id")
    if model.load_in_4bit or model.load_in_8bit:
        raise RecipeError("model.load_in_4bit / load_in_8bit: quantised training is not supported by this runner")
    if training.learning_rate <= 0 or (training.num_train_epochs <= 0 and training.max_steps <= 0):
        raise RecipeError("training: learning_rate must be > 0, and num_train_epochs or max_steps > 0")
    if data.max_length < 16:
        raise RecipeError(f"data.max_length {data.max_length} is too small (>= 16)")
    if bool(data.concatenate) == bool(data.mix):
        raise RecipeError("data: give either concatenate (sources in full, the study's way) or mix (token shares)")
    where = "data.concatenate" if data.concatenate else "data.mix"
    for name in [*data.selected_names(), *data.eval_sources]:
        if name not in data.sources:
            raise RecipeError(f"{where if name not in data.eval_sources else 'data.eval_sources'}: {name}: no such "
                              f"source in data.sources ({', '.join(data.sources) or 'none'})")
        if not data.sources[name].paths:
            raise RecipeError(f"data.sources.{name}.paths is empty")
    for name in data.eval_sources:
        if name in data.selected_names():
            raise RecipeError(f"data.eval_sources: {name} is also trained on; evaluation data must be held out")
    if data.mix:
        total = sum(data.mix.values())
        if abs(total - 1.0) > SHARE_TOLERANCE:
            detail = ", ".join(f"{name}={share:g}" for name, share in data.mix.items())
            raise RecipeError(f"data.mix shares must sum to 1, they sum to {total:g} ({detail})")
    elif data.total_tokens is not None:
        raise RecipeError("data.total_tokens sizes a mix; with concatenate every source is trained on in full")
    if training.eval_strategy != "no" and not data.eval_sources:
        raise RecipeError(f"training.eval_strategy is {training.eval_strategy.value!r} but data.eval_sources is empty")
    if check_files:
        _check_files(recipe)


def _check_files(recipe: Recipe) -> None:
    for name, source in recipe.data.selected_sources().items():
        for pattern in source.paths:
            if not expand_paths([pattern]):
                raise RecipeError(
                    f"data.sources.{name}: no file matches {pattern!r} (looked at {resolve_path(pattern)})")
    backbone = recipe.model.model_name_or_path
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    if (offline or looks_like_local_path(backbone)) and not resolve_path(backbone).is_dir():
        raise RecipeError(f"model.model_name_or_path {backbone!r} is not a folder ({resolve_path(backbone)})")
    template = recipe.backbone.chat_template_path
    if template and not resolve_path(template).is_file():
        raise RecipeError(f"model.chat_template_path file {template!r} does not exist")
