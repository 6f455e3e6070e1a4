"""Synthetic instruction data, the Magpie way, with filters and a manifest.

Stages: sample instructions from the pre-query prefix → filter them (empty/truncated, length, exact and
near duplicates, language) → optionally translate → sample responses with the normal template → filter
responses → write JSONL of ``messages`` and ``<out>.manifest.json``.
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal
from pathlib import Path

from training.instruction_filters import (
    FilterReport, Item, LanguageIdentifier, apply_filter, drop_exact_duplicates, drop_near_duplicates,
)
from training.magpie import magpie_prefix, response_prompt, turn_end_markers
from training.manifest import now, versions, write_json


class InstructionsError(ValueError):
    """Options that cannot work; the message names the flag."""


def _option(default, help: str, **metadata):
    """A field with its command-line help (``python -m training instructions`` parses this class)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class InstructionsConfig:
    model: str = field(metadata={"help": "instructed checkpoint folder"})
    out: str = field(metadata={"help": "output JSONL (a .manifest.json is written beside it)"})
    count: int = _option(100, "instructions to sample before filtering")
    backend: Literal["auto", "vllm", "transformers"] = _option(
        "auto", "auto = vLLM's offline engine when installed, transformers otherwise")
    system_prompt: str | None = _option(None, "system prompt that steers topic or language of the instructions")
    response_system_prompt: str | None = _option(None, "system prompt for the responses (default: --system-prompt)")
    # Sampling defaults: Magpie's published settings for Llama-3.1 (scripts/magpie-llama3.1-8b.sh).
    instruction_temperature: float = _option(0.9, "sampling temperature for instructions (Magpie, Llama-3.1)")
    instruction_top_p: float = _option(1.0, "nucleus sampling for instructions (Magpie, Llama-3.1)")
    response_temperature: float = _option(0.6, "sampling temperature for responses (Magpie, Llama-3.1)")
    response_top_p: float = _option(0.9, "nucleus sampling for responses (Magpie, Llama-3.1)")
    max_instruction_tokens: int = _option(1024, "instructions cut here are dropped as truncated")
    max_response_tokens: int = _option(512, "responses cut here are dropped as truncated")
    min_instruction_chars: int = _option(10, "shorter instructions are dropped")
    max_instruction_chars: int = _option(2000, "longer instructions are dropped")
    min_response_chars: int = _option(5, "shorter responses are dropped")
    max_response_chars: int = _option(10000, "longer responses are dropped")
    near_duplicate_threshold: float = _option(0.7, "word-3-gram Jaccard at which an instruction is a near duplicate")
    language_action: Literal["keep", "tag", "off"] = _option(
        "keep", "keep: drop instructions not in --languages; tag: only record the language")
    languages: list[str] = _option(["eu"], "ISO 639-1 codes to keep (eu, en, es, fr), space- or comma-separated")
    translate_to: str | None = _option(None, "translate into this language (ISO code) with a served model")
    translate_mode: Literal["instruction", "conversation"] = _option(
        "instruction", "instruction: translate instructions, then answer them natively; conversation: answer in "
                       "the model's language, then translate instruction and response (the study's Basque data)")
    translate_url: str | None = _option(None, "OpenAI-compatible base URL of the translating model")
    translate_model: str | None = _option(None, "served model name at --translate-url")
    translate_api_key_env: str | None = _option(None, "environment variable holding the endpoint's API key")
    judge_url: str | None = _option(None, "OpenAI-compatible base URL of a judge that tags task and input quality")
    judge_model: str | None = _option(None, "served model name at --judge-url")
    judge_api_key_env: str | None = _option(None, "environment variable holding the judge endpoint's API key")
    min_quality: Literal["very poor", "poor", "average", "good", "excellent"] = _option(
        "average", "with a judge: instructions tagged below this input quality are dropped")
    drop_translation_tasks: bool = _option(True, "with a judge: drop instructions tagged as translation tasks")
    sample_size: int | None = _option(None, "finally keep a random sample of this many items (seeded)")
    seed: int = _option(42, "sampling seed")
    batch_size: int = _option(16, "transformers backend batch size")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _option("auto", "weights dtype (auto: float32)")

    def __post_init__(self):
        self.languages = [code.strip() for item in self.languages for code in item.split(",") if code.strip()]

    def validate(self) -> None:
        if self.count < 1:
            raise InstructionsError("--count must be >= 1")
        for name in ("instruction_temperature", "response_temperature"):
            if getattr(self, name) < 0:
                raise InstructionsError(f"--{name.replace('_', '-')} must be >= 0")
        for name in ("instruction_top_p", "response_top_p"):
            if not 0 < getattr(self, name) <= 1:
                raise InstructionsError(f"--{name.replace('_', '-')} must be in (0, 1]")
        if not 0 < self.near_duplicate_threshold <= 1:
            raise InstructionsError("--near-duplicate-threshold must be in (0, 1]")
        if self.translate_to and not (self.translate_url and self.translate_model):
            raise InstructionsError("--translate-to needs --translate-url and --translate-model (an OpenAI-compatible endpoint)")
        if bool(self.judge_url) != bool(self.judge_model):
            raise InstructionsError("--judge-url and --judge-model go together (an OpenAI-compatible endpoint)")
        if self.sample_size is not None and self.sample_size < 1:
            raise InstructionsError("--sample-size must be >= 1")
        if not Path(self.model).is_dir():
            raise InstructionsError(f"--model {self.model!r} is not a checkpoint folder")


def _generate(backend, prompts: list[str], desc: str, progress: bool, **sampling):
    """``backend.generate`` with a progress bar; returns (generations, seconds)."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    bar = tqdm(total=len(prompts), desc=desc, unit="item") if progress and prompts else None
    generations = backend.generate(prompts, progress=bar, **sampling) if prompts else []
    if bar:
        bar.close()
    return generations, round(time.perf_counter() - started, 2)


def _filter_instructions(items: list[Item], cfg: InstructionsConfig, reports: list[FilterReport]) -> list[Item]:
    items = apply_filter(items, "instruction_empty", lambda i: bool(i.instruction), reports)
    items = apply_filter(items, "instruction_truncated", lambda i: i.finish_reason == "stop", reports)
    items = apply_filter(items, "instruction_length",
                         lambda i: cfg.min_instruction_chars <= len(i.instruction) <= cfg.max_instruction_chars, reports)
    items = drop_exact_duplicates(items, reports)
    return drop_near_duplicates(items, cfg.near_duplicate_threshold, reports)


def _judge(items: list[Item], cfg: InstructionsConfig, reports: list[FilterReport], judge) -> list[Item]:
    """Magpie's task/quality tags from a judge model, when one is configured (else nothing is filtered here)."""
    if judge is None and not cfg.judge_url:
        return items
    from training.served_models import QUALITY_LEVELS, openai_judge

    judge = judge or openai_judge(cfg.judge_url, cfg.judge_model, cfg.judge_api_key_env)
    for item in items:
        tags = judge(item.instruction)
        item.task, item.quality = tags.task, tags.quality
    lowest = QUALITY_LEVELS.index(cfg.min_quality)
    items = apply_filter(items, "quality",  # "unparsed" is not on the scale: dropped
                         lambda i: i.quality in QUALITY_LEVELS and QUALITY_LEVELS.index(i.quality) >= lowest, reports)
    if cfg.drop_translation_tasks:
        items = apply_filter(items, "translation_task", lambda i: i.task != "Translation", reports)
    return items


def _translator(cfg: InstructionsConfig, translator):
    from training.served_models import openai_translator

    return translator or openai_translator(cfg.translate_url, cfg.translate_model, cfg.translate_to,
                                           cfg.translate_api_key_env)


def _translate_instructions(items: list[Item], cfg: InstructionsConfig, reports: list[FilterReport],
                            translator, lid, timings: dict) -> list[Item]:
    """Translate the instructions not yet in ``translate_to``; they are then answered in that language."""
    started = time.perf_counter()
    translate = _translator(cfg, translator)
    for item in items:
        item.language = lid.identify(item.instruction)
        if item.language != cfg.translate_to:
            item.original_instruction = item.instruction
            item.instruction = translate(item.instruction).strip()
    timings["translation_s"] = round(time.perf_counter() - started, 2)
    return apply_filter(items, "translation_empty", lambda i: bool(i.instruction), reports)


def _translate_conversations(items: list[Item], cfg: InstructionsConfig, reports: list[FilterReport],
                             translator, timings: dict) -> list[Item]:
    """The study's Basque data: whole conversations (instruction and response) machine-translated."""
    started = time.perf_counter()
    translate = _translator(cfg, translator)
    for item in items:
        item.original_instruction, item.original_response = item.instruction, item.response
        item.instruction, item.response = translate(item.instruction).strip(), translate(item.response).strip()
    timings["translation_s"] = round(time.perf_counter() - started, 2)
    return apply_filter(items, "translation_empty", lambda i: bool(i.instruction and i.response), reports)


def _keep_languages(items: list[Item], cfg: InstructionsConfig, reports: list[FilterReport], lid) -> list[Item]:
    """Tag each item's language (of what will be trained on), and keep the wanted ones."""
    if cfg.language_action == "off":
        return items
    for item in items:
        item.language = lid.identify(item.instruction)
    if cfg.language_action == "keep":
        allowed = set(cfg.languages)
        items = apply_filter(items, "language", lambda i: i.language in allowed, reports)
    return items


def _filter_responses(items: list[Item], cfg: InstructionsConfig, reports: list[FilterReport]) -> list[Item]:
    items = apply_filter(items, "response_empty", lambda i: bool(i.response), reports)
    items = apply_filter(items, "response_truncated", lambda i: i.response_finish_reason == "stop", reports)
    return apply_filter(items, "response_length",
                        lambda i: cfg.min_response_chars <= len(i.response) <= cfg.max_response_chars, reports)


def _write_jsonl(out: Path, items: list[Item]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for n, item in enumerate(items):
            record = {
                "id": f"{out.stem}-{n}",
                "messages": [{"role": "user", "content": item.instruction},
                             {"role": "assistant", "content": item.response}],
                "language": item.language,
            }
            if item.original_instruction is not None:
                record["original_instruction"] = item.original_instruction
            if item.original_response is not None:
                record["original_response"] = item.original_response
            if item.task is not None:
                record.update(task=item.task, quality=item.quality)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def generate_instructions(cfg: InstructionsConfig, *, backend=None, translator: Callable[[str], str] | None = None,
                          judge=None, language_id: LanguageIdentifier | None = None, progress: bool = True) -> dict:
    """Run every stage and write the JSONL + manifest; returns the manifest."""
    from training.magpie import make_backend

    cfg.validate()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if backend is None:
        backend = make_backend(cfg.backend, cfg.model, seed=cfg.seed, batch_size=cfg.batch_size, dtype=cfg.dtype)
    tokenizer = backend.tokenizer
    timings["load_s"] = round(time.perf_counter() - started, 2)
    prefix = magpie_prefix(tokenizer, cfg.system_prompt)
    user_stop, assistant_stop = turn_end_markers(tokenizer)

    # Instructions from the bare prefix, filtered, translated and language-checked.
    raw, timings["instructions_s"] = _generate(
        backend, [prefix] * cfg.count, "instructions", progress, temperature=cfg.instruction_temperature,
        top_p=cfg.instruction_top_p, max_new_tokens=cfg.max_instruction_tokens, stop=user_stop)
    reports: list[FilterReport] = []
    items = _filter_instructions([Item(g.text.strip(), g.finish_reason) for g in raw], cfg, reports)
    items = _judge(items, cfg, reports, judge)
    lid = language_id or (LanguageIdentifier() if cfg.language_action != "off" or cfg.translate_to else None)
    by_instruction = cfg.translate_to and cfg.translate_mode == "instruction"
    if by_instruction:
        items = _translate_instructions(items, cfg, reports, translator, lid, timings)
    if not cfg.translate_to or by_instruction:
        items = _keep_languages(items, cfg, reports, lid)

    # Responses with the normal template.
    system = cfg.response_system_prompt if cfg.response_system_prompt is not None else cfg.system_prompt
    answers, timings["responses_s"] = _generate(
        backend, [response_prompt(tokenizer, i.instruction, system) for i in items], "responses", progress,
        temperature=cfg.response_temperature, top_p=cfg.response_top_p, max_new_tokens=cfg.max_response_tokens,
        stop=assistant_stop)
    for item, answer in zip(items, answers):
        item.response, item.response_finish_reason = answer.text.strip(), answer.finish_reason
    items = _filter_responses(items, cfg, reports)
    if cfg.translate_to and not by_instruction:
        items = _translate_conversations(items, cfg, reports, translator, timings)
        items = _keep_languages(items, cfg, reports, lid)
    if cfg.sample_size is not None:
        chosen = {id(i) for i in random.Random(cfg.seed).sample(items, min(cfg.sample_size, len(items)))}
        items = apply_filter(items, "sample", lambda i: id(i) in chosen, reports)

    out = Path(cfg.out)
    _write_jsonl(out, items)
    timings["total_s"] = round(time.perf_counter() - started, 2)
    manifest = {
        "output": str(out.resolve()),
        "config": asdict(cfg),
        "backend": type(backend).__name__,
        "magpie_prefix": prefix,
        "stop": {"instruction": user_stop, "response": assistant_stop},
        "requested": cfg.count,
        "written": len(items),
        "filters": [{"name": r.name, "seen": r.seen, "removed": r.removed, "kept": r.kept} for r in reports],
        "languages": dict(Counter(i.language for i in items)),
        "tasks": dict(Counter(i.task for i in items if i.task is not None)),
        "timings": timings,
        "seconds_per_requested_item": round((timings["instructions_s"] + timings["responses_s"]) / cfg.count, 3),
        "versions": versions(),
        "finished_at": now(),
    }
    write_json(manifest_path(out), manifest)
    return manifest


def manifest_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".manifest.json")
