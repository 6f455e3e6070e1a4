"""Mixing proportions (within 2 %), packing, and the data errors users hit."""
from __future__ import annotations

import pytest

from training.chat_masks import IGNORE_INDEX
from training.config import DataConfig, DataSource
from training.data_mixing import DataError, Example, build_training_set, mix_examples, pack_examples

from tests.training.helpers import write_jsonl


def source_shares(examples):
    total = sum(len(e) for e in examples)
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.source] = counts.get(e.source, 0) + len(e)
    return {name: n / total for name, n in counts.items()}


@pytest.mark.parametrize("proportions, total", [
    ({"corpus": 0.7, "eu": 0.3}, 3000),
    ({"corpus": 0.5, "eu": 0.25, "en": 0.25}, 6000),
    ({"corpus": 0.9, "eu": 0.1}, None),  # natural size: limited by the scarcest source
])
def test_mixing_proportions_within_two_percent(tiny_tokenizer, data_dir, proportions, total):
    sources = [
        DataSource("corpus", "corpus", [str(data_dir / "corpus.jsonl")], proportions["corpus"]),
        DataSource("eu", "instructions", [str(data_dir / "instructions.jsonl")], proportions["eu"]),
    ]
    if "en" in proportions:
        sources.append(DataSource("en", "instructions", [str(data_dir / "instructions.jsonl")], proportions["en"]))
    dataset, report = build_training_set(tiny_tokenizer, DataConfig(sources=sources, max_length=64,
                                                                    total_tokens=total, seed=3))
    for entry in report.sources:
        assert abs(entry.actual_share - proportions[entry.name]) <= 0.02, entry
    # The report is computed from what was packed: every packed non-padding token is accounted for.
    assert sum(sum(mask) for mask in dataset["attention_mask"]) == report.total_tokens
    if total:
        assert abs(report.total_tokens - total) / total < 0.02
    else:
        limiting = min(report.sources, key=lambda s: s.available_tokens / s.target_share)
        assert limiting.passes <= 1.0


def test_mix_shares_hold_on_uneven_documents():
    examples = {
        "long": [Example("long", [1] * n, [1] * n) for n in (40, 90, 160, 250, 33, 75) * 20],
        "short": [Example("short", [2] * n, [2] * n) for n in (5, 9, 13, 21) * 50],
    }
    chosen, _ = mix_examples(examples, {"long": 0.35, "short": 0.65}, 20_000, seed=0)
    shares = source_shares(chosen)
    assert abs(shares["long"] - 0.35) <= 0.02 and abs(shares["short"] - 0.65) <= 0.02
    # Shuffled together, not one source after the other.
    first_half = {e.source for e in chosen[: len(chosen) // 4]}
    assert first_half == {"long", "short"}


def test_packing_keeps_every_token_and_label_in_order():
    examples = [Example("a", list(range(1, 8)), [IGNORE_INDEX] * 3 + list(range(4, 8))),
                Example("b", list(range(10, 15)), list(range(10, 15)))]
    blocks = pack_examples(examples, max_length=5, pad_token_id=0)
    assert blocks["input_ids"] == [[1, 2, 3, 4, 5], [6, 7, 10, 11, 12], [13, 14, 0, 0, 0]]
    assert blocks["labels"][0][:3] == [IGNORE_INDEX] * 3
    assert blocks["labels"][2] == [13, 14, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
    assert blocks["attention_mask"][2] == [1, 1, 0, 0, 0]


def test_bad_instruction_records_name_file_and_line(tiny_tokenizer, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"messages": [{"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "Kaixo!"}]},
        {"messages": [{"role": "user", "content": "Kaixo"}]},
    ])
    config = DataConfig(sources=[DataSource("eu", "instructions", [str(path)], 1.0)], max_length=64)
    with pytest.raises(DataError, match=r"bad\.jsonl:2: no assistant message"):
        build_training_set(tiny_tokenizer, config)
