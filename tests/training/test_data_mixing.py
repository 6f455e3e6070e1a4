"""Reading, tokenising, mixing by token share (within 2 %) and packing, and the data errors users hit."""
from __future__ import annotations

import pytest

from training.chat_masks import IGNORE_INDEX
from training.config import DataArguments
from training.data_mixing import DataError, Example, build_training_set, mix_examples, pack_examples, tokenize_corpus

from tests.training.factories import write_jsonl


def source_shares(examples):
    total = sum(len(e) for e in examples)
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.source] = counts.get(e.source, 0) + len(e)
    return {name: n / total for name, n in counts.items()}


def test_corpus_tokens_are_all_trained(tiny_tokenizer):
    [example] = tokenize_corpus(tiny_tokenizer, ["Gaur eguraldi ona dago eta mendira joango gara."], "corpus")
    assert example.labels == example.input_ids
    assert example.input_ids[-1] == tiny_tokenizer.eos_token_id  # the document end is learnt too


@pytest.mark.parametrize("mix, total", [
    ({"corpus": 0.7, "eu": 0.3}, 3000),
    ({"corpus": 0.5, "eu": 0.25, "en": 0.25}, 6000),
    ({"corpus": 0.9, "eu": 0.1}, None),  # natural size: limited by the scarcest source
])
def test_mixing_proportions_within_two_percent(tiny_tokenizer, data_dir, mix, total):
    instructions = {"kind": "instructions", "paths": [str(data_dir / "instructions.jsonl")]}
    sources = {"corpus": {"kind": "corpus", "paths": [str(data_dir / "corpus.jsonl")]}, "eu": instructions,
               "en": instructions, "unused": {"kind": "corpus", "paths": ["/nonexistent.jsonl"]}}
    data = DataArguments(sources=sources, mix=mix, max_length=64, total_tokens=total)
    dataset, report = build_training_set(tiny_tokenizer, data, seed=3)
    assert [entry.name for entry in report.sources] == list(mix)  # sources outside the mix are not read
    for entry in report.sources:
        assert abs(entry.actual_share - mix[entry.name]) <= 0.02, entry
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
    first_quarter = {e.source for e in chosen[: len(chosen) // 4]}
    assert first_quarter == {"long", "short"}


def test_packing_keeps_every_token_and_label_in_order():
    examples = [Example("a", list(range(1, 8)), [IGNORE_INDEX] * 3 + list(range(4, 8))),
                Example("b", list(range(10, 15)), list(range(10, 15)))]
    blocks = pack_examples(examples, max_length=5, pad_token_id=0)
    assert blocks["input_ids"] == [[1, 2, 3, 4, 5], [6, 7, 10, 11, 12], [13, 14, 0, 0, 0]]
    assert blocks["labels"][0][:3] == [IGNORE_INDEX] * 3
    assert blocks["labels"][2] == [13, 14, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
    assert blocks["attention_mask"][2] == [1, 1, 0, 0, 0]


def test_corpus_filters_and_caps_documents(tiny_tokenizer, tmp_path):
    path = write_jsonl(tmp_path / "corpus.jsonl", [
        {"text": "Bibliako testu zaharra.", "source": "bible-corpus"},
        {"text": "Gaur eguraldi ona dago.", "source": "ud"},
        {"text": "   ", "source": "ud"},  # blank documents are skipped
        {"text": "Bihar euria egingo du.", "source": "ud"},
        {"text": "Etzi elurra.", "source": "ud"},
    ])
    sources = {"corpus": {"kind": "corpus", "paths": [str(path)], "exclude_sources": ["^bible"]}}
    _, report = build_training_set(tiny_tokenizer, DataArguments(sources=sources, mix={"corpus": 1.0},
                                                                 max_length=64, max_docs_per_source=4), seed=0)
    assert report.sources[0].documents == 2  # 4 lines read: one excluded, one blank


@pytest.mark.parametrize("records, message", [
    ([{"messages": [{"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "Kaixo!"}]},
      {"messages": [{"role": "user", "content": "Kaixo"}]}], r"bad\.jsonl:2: no assistant message"),
    ([{"messages": [{"role": "robot", "content": "Kaixo"}]}], r"bad\.jsonl:1: message 0 needs a role"),
    (["just a string"], r"bad\.jsonl:1: expected a JSON object"),
])
def test_bad_instruction_records_name_file_and_line(tiny_tokenizer, tmp_path, records, message):
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    data = DataArguments(sources={"eu": {"kind": "instructions", "paths": [str(path)]}}, mix={"eu": 1.0}, max_length=64)
    with pytest.raises(DataError, match=message):
        build_training_set(tiny_tokenizer, data, seed=0)


def test_invalid_json_names_file_and_line(tiny_tokenizer, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "Kaixo"}\n{"text": \n')
    data = DataArguments(sources={"corpus": {"kind": "corpus", "paths": [str(path)]}}, mix={"corpus": 1.0}, max_length=64)
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not valid JSON"):
        build_training_set(tiny_tokenizer, data, seed=0)
