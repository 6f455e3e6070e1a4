"""Build the training set: tokenised sources, mixed, then packed without crossing documents.

Mixing, as the recipe says:
* ``concatenate`` (the study's way, Axolotl's ``shuffle_merged_datasets``): every source in full, concatenated
  and shuffled together;
* ``mix`` (an explicit option): whole examples drawn per source until its token share of ``total_tokens`` is
  met, repeating (reshuffled) sources too small for their share.

Packing is TRL's ``pack_dataset(strategy="bfd")``: whole examples are placed in ``max_length`` rows (best-fit
decreasing) and each row keeps its documents' lengths (``seq_lengths``). TRL's padding-free collator turns
those into position ids that restart at every document, and the model masks attention per document from them
(flash-attention varlen on GPUs, a block-diagonal mask with sdpa/eager): nothing attends across examples, as
with the study's Axolotl multipack. Examples longer than ``max_length`` are dropped and counted (as Axolotl
does), never cut, so a trained answer never loses its question.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from training.config import DataArguments, expand_paths
from training.data_sources import COLUMNS, DataError, load_source

__all__ = ["DataError", "MixReport", "SourceReport", "build_training_set", "packing_collator", "proportional_indices"]


@dataclass
class SourceReport:
    name: str
    kind: str
    files: list[str]
    documents: int
    available_tokens: int
    dropped_too_long: int = 0  # examples longer than max_length, left out whole
    target_share: float | None = None  # mix only
    selected_documents: int = 0
    selected_tokens: int = 0
    trained_tokens: int = 0  # tokens with a loss (corpus: all; conversations: assistant turns)
    passes: float = 0.0  # > 1 means the source was repeated to meet its quota
    actual_share: float = 0.0


@dataclass
class MixReport:
    strategy: str = "concatenate"
    total_tokens: int = 0
    blocks: int = 0
    max_length: int = 0
    padding_share: float = 0.0  # of blocks * max_length: what padding each row to max_length would add
    eval_examples: int = 0
    eval_tokens: int = 0
    sources: list[SourceReport] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def proportional_indices(lengths: dict[str, list[int]], proportions: dict[str, float], total_tokens: int | None,
                         seed: int) -> dict[str, list[int]]:
    """Per source, the example indices (repeats allowed) whose tokens come closest to its share of the total.

    Without ``total_tokens`` the mix is as large as the scarcest source (relative to its share) allows
    without repeating anything.
    """
    available = {name: sum(values) for name, values in lengths.items()}
    if total_tokens is None:
        total_tokens = int(min(available[name] / proportions[name] for name in lengths))
    rng = random.Random(seed)
    chosen: dict[str, list[int]] = {}
    for name, values in lengths.items():
        quota = proportions[name] * total_tokens
        taken_tokens, picked, order = 0, [], []
        while True:
            if not order:
                order = list(range(len(values)))
                rng.shuffle(order)
            index = order.pop()
            # Stop at the example boundary closest to the quota: examples are never cut.
            if taken_tokens + values[index] / 2 > quota:
                break
            picked.append(index)
            taken_tokens += values[index]
        chosen[name] = picked
    return chosen


def _column(dataset, name: str) -> list[int]:
    return list(dataset[name])


def _fitting(tokenizer, name: str, source, data: DataArguments, report: MixReport):
    dataset = load_source(tokenizer, name, source, limit=data.max_docs_per_source, cache_dir=data.cache_dir,
                          num_proc=data.preprocessing_num_workers)
    lengths = _column(dataset, "length")
    entry = SourceReport(name=name, kind=source.kind, files=[str(p) for p in expand_paths(source.paths)],
                         documents=len(dataset), available_tokens=int(sum(lengths)),
                         target_share=data.mix.get(name))
    kept = [i for i, n in enumerate(lengths) if n <= data.max_length]
    entry.dropped_too_long = len(dataset) - len(kept)
    if not kept:
        raise DataError(f"data source {name!r}: every example is longer than max_length {data.max_length}")
    if entry.dropped_too_long:
        dataset = dataset.select(kept)
    report.sources.append(entry)
    return dataset, entry


def build_training_set(tokenizer, data: DataArguments, seed: int):
    """Read, tokenise, mix and pack the training sources; returns (train, eval or None, MixReport).

    Run it on the main process first (``TrainingArguments.main_process_first``): the other ranks then read
    every step from the Arrow cache.
    """
    from datasets import concatenate_datasets
    from trl.data_utils import pack_dataset

    report = MixReport(strategy="concatenate" if data.concatenate else "mix", max_length=data.max_length)
    parts = []
    fitting = {name: _fitting(tokenizer, name, data.sources[name], data, report) for name in data.selected_names()}
    if data.concatenate:
        selected = {name: dataset for name, (dataset, _) in fitting.items()}
    else:
        picks = proportional_indices({name: _column(dataset, "length") for name, (dataset, _) in fitting.items()},
                                     data.mix, data.total_tokens, seed)
        selected = {name: fitting[name][0].select(picks[name]) for name in fitting}
    for name, dataset in selected.items():
        entry = fitting[name][1]
        entry.selected_documents = len(dataset)
        entry.selected_tokens = sum(_column(dataset, "length"))
        entry.trained_tokens = sum(_column(dataset, "trained"))
        entry.passes = round(entry.selected_tokens / max(sum(_column(fitting[name][0], "length")), 1), 4)
        parts.append(dataset.select_columns(COLUMNS))
    mixed = concatenate_datasets(parts).shuffle(seed=seed)
    if len(mixed) == 0:
        raise DataError("the mix is empty: total_tokens is smaller than one document")
    packed = pack_dataset(mixed, data.max_length, strategy="bfd", map_kwargs={"desc": "packing"})
    report.total_tokens = sum(entry.selected_tokens for entry in report.sources)
    for entry in report.sources:
        entry.actual_share = round(entry.selected_tokens / report.total_tokens, 4)
    report.blocks = len(packed)
    report.padding_share = round(1 - report.total_tokens / (report.blocks * data.max_length), 4)
    evaluation = None
    if data.eval_sources:
        held_out = [_fitting(tokenizer, name, data.sources[name], data, MixReport())[0] for name in data.eval_sources]
        evaluation = concatenate_datasets(held_out)
        report.eval_examples, report.eval_tokens = len(evaluation), sum(_column(evaluation, "length"))
        evaluation = evaluation.select_columns(COLUMNS)  # not packed, as the study's eval_sample_packing: false
    return packed, evaluation, report


def packing_collator(tokenizer):
    """TRL's padding-free collator: rows flattened into one, position ids restarting at every document, no
    attention mask (which would make the model treat the row as one document)."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return DataCollatorForLanguageModeling(pad_token_id=pad, padding_free=True)
