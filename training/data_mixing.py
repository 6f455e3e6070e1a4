"""Build the training set: corpus text and instruction conversations, mixed by token share and packed.

(a) corpus documents are language-modelling text: every token is trained, EOS appended;
(b) conversations are rendered with the backbone's chat template, only assistant turns are trained.
Both become (input_ids, labels) examples; examples are drawn per source until that source's token
quota (its recipe proportion of the total) is met, shuffled together and packed end to end into
fixed-length blocks (the paper packed 8k sequences).
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.chat_masks import IGNORE_INDEX, render_conversation, validate_messages
from training.config import DataArguments, DataSource, expand_paths


class DataError(ValueError):
    """Training data that cannot be used; the message names the file and line."""


@dataclass
class Example:
    source: str
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class SourceReport:
    name: str
    kind: str
    files: list[str]
    documents: int
    available_tokens: int
    target_share: float
    selected_documents: int = 0
    selected_tokens: int = 0
    trained_tokens: int = 0
    passes: float = 0.0  # > 1 means the source was repeated to meet its quota
    actual_share: float = 0.0


@dataclass
class MixReport:
    total_tokens: int = 0
    blocks: int = 0
    max_length: int = 0
    padding_tokens: int = 0
    sources: list[SourceReport] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# --- reading -----------------------------------------------------------------------------------------

def _read_jsonl(path: Path, limit: int | None):
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if limit is not None and limit <= 0:
                return
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object")
            yield line_no, record
            if limit is not None:
                limit -= 1


def read_corpus(source: DataSource, limit: int | None = None) -> list[str]:
    excluded = [re.compile(p) for p in source.exclude_sources]
    texts: list[str] = []
    for path in expand_paths(source.paths):
        for line_no, record in _read_jsonl(path, None if limit is None else limit - len(texts)):
            text = record.get(source.text_field)
            if not isinstance(text, str):
                raise DataError(f"{path}:{line_no}: field {source.text_field!r} is missing or not a string")
            if excluded and any(p.search(str(record.get("source", ""))) for p in excluded):
                continue
            if text.strip():
                texts.append(text)
    return texts


def read_conversations(source: DataSource, limit: int | None = None) -> list[list[dict]]:
    conversations = []
    for path in expand_paths(source.paths):
        for line_no, record in _read_jsonl(path, None if limit is None else limit - len(conversations)):
            messages = record.get("messages")
            try:
                validate_messages(messages, f"{path}:{line_no}")
            except ValueError as exc:
                raise DataError(str(exc)) from None
            conversations.append([{"role": m["role"], "content": m["content"]} for m in messages])
    return conversations


# --- tokenising --------------------------------------------------------------------------------------

def tokenize_corpus(tokenizer, texts: list[str], source: str, batch_size: int = 512) -> list[Example]:
    """Every token trained; EOS closes each document so the model learns where text ends."""
    eos = tokenizer.eos_token_id
    examples = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start : start + batch_size], add_special_tokens=True)["input_ids"]
        for ids in batch:
            ids = list(ids)
            if eos is not None and (not ids or ids[-1] != eos):
                ids.append(eos)
            examples.append(Example(source, ids, list(ids)))
    return examples


def tokenize_conversations(tokenizer, conversations: list[list[dict]], source: str) -> list[Example]:
    examples = []
    for messages in conversations:
        rendered = render_conversation(tokenizer, messages)
        examples.append(Example(source, rendered.input_ids, rendered.labels))
    return examples


def load_source(tokenizer, name: str, source: DataSource, limit: int | None = None) -> list[Example]:
    if source.kind == "corpus":
        examples = tokenize_corpus(tokenizer, read_corpus(source, limit), name)
    else:
        examples = tokenize_conversations(tokenizer, read_conversations(source, limit), name)
    if not examples:
        raise DataError(f"data source {name!r} has no usable documents in {source.paths}")
    return examples


# --- mixing and packing ------------------------------------------------------------------------------

def mix_examples(
    examples_by_source: dict[str, list[Example]],
    proportions: dict[str, float],
    total_tokens: int | None,
    seed: int,
) -> tuple[list[Example], dict[str, dict]]:
    """Draw whole examples from each source until its token quota is met, then shuffle them together.

    Without ``total_tokens`` the mix is as large as the scarcest source (relative to its share) allows
    without repeating anything; with it, sources that are too small are repeated (reshuffled each pass).
    """
    available = {name: sum(len(e) for e in examples) for name, examples in examples_by_source.items()}
    if total_tokens is None:
        total_tokens = int(min(available[name] / proportions[name] for name in examples_by_source))
    rng = random.Random(seed)
    chosen: list[Example] = []
    stats: dict[str, dict] = {}
    for name, examples in examples_by_source.items():
        quota = proportions[name] * total_tokens
        taken_tokens = taken_docs = 0
        order: list[int] = []
        while True:
            if not order:
                order = list(range(len(examples)))
                rng.shuffle(order)
            example = examples[order.pop()]
            # Stop at the example boundary closest to the quota (never cut examples: masks stay whole).
            if taken_tokens + len(example) / 2 > quota:
                break
            chosen.append(example)
            taken_tokens += len(example)
            taken_docs += 1
        stats[name] = {"selected_tokens": taken_tokens, "selected_documents": taken_docs,
                       "passes": taken_tokens / max(available[name], 1)}
    rng.shuffle(chosen)
    return chosen, stats


def pack_examples(examples: list[Example], max_length: int, pad_token_id: int) -> dict[str, list[list[int]]]:
    """Concatenate examples end to end and cut into ``max_length`` blocks; the last block is padded.

    Causal attention crosses document boundaries inside a block, as in the usual packed pre-training;
    the EOS / end-of-turn token between documents tells the model where one ends.
    """
    ids_stream: list[int] = []
    label_stream: list[int] = []
    for example in examples:
        ids_stream.extend(example.input_ids)
        label_stream.extend(example.labels)
    blocks: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
    for start in range(0, len(ids_stream), max_length):
        ids = ids_stream[start : start + max_length]
        labels = label_stream[start : start + max_length]
        pad = max_length - len(ids)
        blocks["input_ids"].append(ids + [pad_token_id] * pad)
        blocks["labels"].append(labels + [IGNORE_INDEX] * pad)
        blocks["attention_mask"].append([1] * len(ids) + [0] * pad)
    return blocks


def build_training_set(tokenizer, data: DataArguments, seed: int):
    """Read, tokenise, mix and pack the sources of ``data.mix``; returns (datasets.Dataset, MixReport)."""
    from datasets import Dataset

    examples_by_source: dict[str, list[Example]] = {}
    report = MixReport(max_length=data.max_length)
    for name, source in data.selected_sources().items():
        examples = load_source(tokenizer, name, source, data.max_docs_per_source)
        examples_by_source[name] = examples
        report.sources.append(SourceReport(
            name=name, kind=source.kind, files=[str(p) for p in expand_paths(source.paths)],
            documents=len(examples), available_tokens=sum(len(e) for e in examples), target_share=data.mix[name],
        ))
    chosen, stats = mix_examples(examples_by_source, data.mix, data.total_tokens, seed)
    if not chosen:
        raise DataError("the mix is empty: total_tokens is smaller than one document")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    blocks = pack_examples(chosen, data.max_length, pad_id)
    total = sum(len(e) for e in chosen)
    trained: dict[str, int] = {}
    for example in chosen:
        trained[example.source] = trained.get(example.source, 0) + sum(l != IGNORE_INDEX for l in example.labels)
    for entry in report.sources:
        entry.selected_tokens = stats[entry.name]["selected_tokens"]
        entry.selected_documents = stats[entry.name]["selected_documents"]
        entry.passes = round(stats[entry.name]["passes"], 4)
        entry.trained_tokens = trained.get(entry.name, 0)
        entry.actual_share = round(entry.selected_tokens / total, 4)
    report.total_tokens = total
    report.blocks = len(blocks["input_ids"])
    report.padding_tokens = report.blocks * data.max_length - total
    return Dataset.from_dict(blocks), report
