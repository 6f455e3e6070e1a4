"""Synthetic instruction data, the Magpie way, with filters and a manifest.

Stages: sample instructions from the pre-query prefix → filter them (empty/truncated, length, exact and
near duplicates, language) → optionally translate → sample responses with the normal template → filter
responses → write JSONL of ``messages`` and ``<out>.manifest.json``.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.instruction_filters import (
    FilterReport, Item, LanguageIdentifier, apply_filter, drop_exact_duplicates, drop_near_duplicates,
)
from training.magpie import magpie_prefix, response_prompt, turn_end_markers
from training.manifest import now, versions, write_json


class InstructionsError(ValueError):
    """Options that cannot work; the message names the flag."""


@dataclass
class InstructionsConfig:
    model: str
    out: str
    count: int = 100
    backend: str = "auto"  # auto | vllm | transformers
    system_prompt: str | None = None  # steers topic/language of the sampled instructions
    response_system_prompt: str | None = None  # default: same as system_prompt
    instruction_temperature: float = 1.0  # Magpie samples instructions at T=1, top_p=1
    instruction_top_p: float = 1.0
    response_temperature: float = 0.7
    response_top_p: float = 0.95
    max_instruction_tokens: int = 128
    max_response_tokens: int = 512
    min_instruction_chars: int = 10
    max_instruction_chars: int = 2000
    min_response_chars: int = 5
    max_response_chars: int = 10000
    near_duplicate_threshold: float = 0.7
    language_action: str = "keep"  # keep (drop other languages) | tag | off
    languages: list[str] = field(default_factory=lambda: ["eu"])
    translate_to: str | None = None
    translate_url: str | None = None
    translate_model: str | None = None
    translate_api_key_env: str | None = None
    seed: int = 42
    batch_size: int = 16
    dtype: str = "auto"

    def validate(self) -> None:
        if self.count < 1:
            raise InstructionsError("--count must be >= 1")
        if self.language_action not in {"keep", "tag", "off"}:
            raise InstructionsError("--language-action must be keep, tag or off")
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
        if not Path(self.model).is_dir():
            raise InstructionsError(f"--model {self.model!r} is not a checkpoint folder")


def openai_translator(cfg: InstructionsConfig) -> Callable[[str], str]:
    """Translate with a served model (any OpenAI-compatible endpoint, e.g. one of the arena's vLLM servers)."""
    import os

    import openai

    api_key = os.environ.get(cfg.translate_api_key_env, "") if cfg.translate_api_key_env else "EMPTY"
    client = openai.OpenAI(base_url=cfg.translate_url, api_key=api_key or "EMPTY", timeout=120)

    def translate(text: str) -> str:
        reply = client.chat.completions.create(
            model=cfg.translate_model, temperature=0.0,
            messages=[
                {"role": "system", "content": f"Translate the user's message into the language with ISO code "
                                              f"'{cfg.translate_to}'. Reply with the translation only."},
                {"role": "user", "content": text},
            ],
        )
        return (reply.choices[0].message.content or "").strip()

    return translate


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item")


def generate_instructions(cfg: InstructionsConfig, *, backend=None, translator: Callable[[str], str] | None = None,
                          language_id: LanguageIdentifier | None = None, progress: bool = True) -> dict:
    """Run every stage and write the JSONL + manifest; returns the manifest."""
    from training.magpie import make_backend

    cfg.validate()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if backend is None:
        backend = make_backend(cfg.backend, cfg.model, seed=cfg.seed, batch_size=cfg.batch_size, dtype=cfg.dtype)
    backend_name = type(backend).__name__
    tokenizer = backend.tokenizer
    timings["load_s"] = round(time.perf_counter() - started, 2)
    prefix = magpie_prefix(tokenizer, cfg.system_prompt)
    user_stop, assistant_stop = turn_end_markers(tokenizer)

    # 1. Instructions from the bare prefix.
    t0 = time.perf_counter()
    bar = _progress(cfg.count, "instructions") if progress else None
    raw = backend.generate([prefix] * cfg.count, temperature=cfg.instruction_temperature, top_p=cfg.instruction_top_p,
                           max_new_tokens=cfg.max_instruction_tokens, stop=user_stop, progress=bar)
    if bar:
        bar.close()
    timings["instructions_s"] = round(time.perf_counter() - t0, 2)
    items = [Item(g.text.strip(), g.finish_reason) for g in raw]

    # 2. Instruction filters.
    reports: list[FilterReport] = []
    items = apply_filter(items, "instruction_empty", lambda i: bool(i.instruction), reports)
    items = apply_filter(items, "instruction_truncated", lambda i: i.finish_reason == "stop", reports)
    items = apply_filter(items, "instruction_length",
                         lambda i: cfg.min_instruction_chars <= len(i.instruction) <= cfg.max_instruction_chars, reports)
    items = drop_exact_duplicates(items, reports)
    items = drop_near_duplicates(items, cfg.near_duplicate_threshold, reports)
    lid = None
    if cfg.language_action != "off" or cfg.translate_to:
        lid = language_id or LanguageIdentifier()
        for item in items:
            item.language = lid.identify(item.instruction)

    # 3. Optional translation, then language filter on what will actually be trained on.
    if cfg.translate_to:
        t0 = time.perf_counter()
        translate = translator or openai_translator(cfg)
        for item in items:
            if item.language != cfg.translate_to:
                item.original_instruction = item.instruction
                item.instruction = translate(item.instruction).strip()
                item.language = lid.identify(item.instruction)
        timings["translation_s"] = round(time.perf_counter() - t0, 2)
        items = apply_filter(items, "translation_empty", lambda i: bool(i.instruction), reports)
    if cfg.language_action == "keep":
        allowed = set(cfg.languages)
        items = apply_filter(items, "language", lambda i: i.language in allowed, reports)

    # 4. Responses with the normal template.
    t0 = time.perf_counter()
    system = cfg.response_system_prompt if cfg.response_system_prompt is not None else cfg.system_prompt
    prompts = [response_prompt(tokenizer, i.instruction, system) for i in items]
    bar = _progress(len(prompts), "responses") if progress and prompts else None
    answers = backend.generate(prompts, temperature=cfg.response_temperature, top_p=cfg.response_top_p,
                               max_new_tokens=cfg.max_response_tokens, stop=assistant_stop, progress=bar) if prompts else []
    if bar:
        bar.close()
    timings["responses_s"] = round(time.perf_counter() - t0, 2)
    for item, answer in zip(items, answers):
        item.response, item.response_finish_reason = answer.text.strip(), answer.finish_reason
    items = apply_filter(items, "response_empty", lambda i: bool(i.response), reports)
    items = apply_filter(items, "response_truncated", lambda i: i.response_finish_reason == "stop", reports)
    items = apply_filter(items, "response_length",
                         lambda i: cfg.min_response_chars <= len(i.response) <= cfg.max_response_chars, reports)

    # 5. Output.
    out = Path(cfg.out)
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
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    timings["total_s"] = round(time.perf_counter() - started, 2)
    manifest = {
        "output": str(out.resolve()),
        "config": asdict(cfg),
        "backend": backend_name,
        "magpie_prefix": prefix,
        "stop": {"instruction": user_stop, "response": assistant_stop},
        "requested": cfg.count,
        "written": len(items),
        "filters": [{"name": r.name, "seen": r.seen, "removed": r.removed, "kept": r.kept} for r in reports],
        "languages": dict(Counter(i.language for i in items)),
        "timings": timings,
        "seconds_per_requested_item": round((timings["instructions_s"] + timings["responses_s"]) / cfg.count, 3),
        "versions": versions(),
        "finished_at": now(),
    }
    write_json(manifest_path(out), manifest)
    return manifest


def manifest_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".manifest.json")
