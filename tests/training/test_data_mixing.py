"""Tokenising, mixing (full concatenation, or token shares within 2 %), packing without crossing documents."""
from __future__ import annotations

import pytest
import torch

from training.chat_masks import IGNORE_INDEX
from training.config import DataArguments
from training.data_mixing import DataError, build_training_set, packing_collator, proportional_indices
from training.data_sources import tokenize_corpus_batch

from tests.training.factories import BASQUE_QA, conversation, tiny_recipe, write_jsonl


def data_args(tmp_path, **values) -> DataArguments:
    return DataArguments(cache_dir=str(tmp_path / "cache"), **values)


def test_corpus_tokens_are_all_trained(tiny_tokenizer):
    batch = tokenize_corpus_batch({"text": ["Gaur eguraldi ona dago eta mendira joango gara."]}, tiny_tokenizer)
    [ids], [labels] = batch["input_ids"], batch["labels"]
    assert labels == ids and batch["trained"] == [len(ids)]
    assert ids[-1] == tiny_tokenizer.eos_token_id  # the document end is learnt too


def test_concatenate_trains_every_source_in_full(tiny_tokenizer, data_dir, tmp_path):
    """The study's mix: nothing dropped, however unequal the sources (equal shares dropped 96 % of a corpus)."""
    sources = {"corpus": {"kind": "corpus", "paths": [str(data_dir / "corpus.jsonl")]},
               "eu": {"kind": "instructions", "paths": [str(data_dir / "instructions.jsonl")]}}
    data = data_args(tmp_path, sources=sources, concatenate=["corpus", "eu"], max_length=256)
    packed, evaluation, report = build_training_set(tiny_tokenizer, data, seed=3)
    assert evaluation is None and report.strategy == "concatenate"
    for entry in report.sources:
        assert entry.selected_documents == entry.documents - entry.dropped_too_long and entry.passes == 1.0
    assert [e.documents for e in report.sources] == [300, len(BASQUE_QA) * 5]
    assert sum(len(row) for row in packed["input_ids"]) == report.total_tokens
    # Shuffled together: both sources appear in the first packed rows.
    assert report.blocks > 4 and 0 <= report.padding_share < 0.2


@pytest.mark.parametrize("mix, total", [
    ({"corpus": 0.7, "eu": 0.3}, 3000),
    ({"corpus": 0.5, "eu": 0.25, "en": 0.25}, 6000),
    ({"corpus": 0.9, "eu": 0.1}, None),  # natural size: limited by the scarcest source
])
def test_mixing_proportions_within_two_percent(tiny_tokenizer, data_dir, tmp_path, mix, total):
    instructions = {"kind": "instructions", "paths": [str(data_dir / "instructions.jsonl")]}
    sources = {"corpus": {"kind": "corpus", "paths": [str(data_dir / "corpus.jsonl")]}, "eu": instructions,
               "en": instructions, "unused": {"kind": "corpus", "paths": ["/nonexistent.jsonl"]}}
    data = data_args(tmp_path, sources=sources, mix=mix, max_length=64, total_tokens=total)
    packed, _, report = build_training_set(tiny_tokenizer, data, seed=3)
    assert [entry.name for entry in report.sources] == list(mix)  # sources outside the mix are not read
    for entry in report.sources:
        assert abs(entry.actual_share - mix[entry.name]) <= 0.02, entry
    assert sum(len(row) for row in packed["input_ids"]) == report.total_tokens
    if total:
        assert abs(report.total_tokens - total) / total < 0.02
    else:
        limiting = min(report.sources, key=lambda s: s.available_tokens / s.target_share)
        assert limiting.passes <= 1.0


def test_mix_shares_hold_on_uneven_documents():
    lengths = {"long": [40, 90, 160, 250, 33, 75] * 20, "short": [5, 9, 13, 21] * 50}
    picks = proportional_indices(lengths, {"long": 0.35, "short": 0.65}, 20_000, seed=0)
    tokens = {name: sum(lengths[name][i] for i in picked) for name, picked in picks.items()}
    total = sum(tokens.values())
    assert abs(tokens["long"] / total - 0.35) <= 0.02 and abs(tokens["short"] / total - 0.65) <= 0.02


def test_packing_keeps_examples_whole(tiny_tokenizer, tmp_path):
    """Each packed row holds whole examples: a trained answer always comes with its question."""
    qa = [(q * (1 + i % 3), a) for i, (q, a) in enumerate(BASQUE_QA * 4)]
    path = write_jsonl(tmp_path / "qa.jsonl", [conversation(q, a) for q, a in qa])
    data = data_args(tmp_path, sources={"eu": {"kind": "instructions", "paths": [str(path)]}}, concatenate=["eu"],
                     max_length=96)
    packed, _, report = build_training_set(tiny_tokenizer, data, seed=0)
    header = tiny_tokenizer.convert_tokens_to_ids("<|im_start|>")
    for ids, lengths in zip(packed["input_ids"], packed["seq_lengths"]):
        assert sum(lengths) == len(ids) <= 96
        starts = [sum(lengths[:k]) for k in range(len(lengths))]
        assert all(ids[start] == header for start in starts)  # every document starts at its beginning
    assert sum(len(lengths) for lengths in packed["seq_lengths"]) == report.sources[0].selected_documents


def test_examples_longer_than_max_length_are_dropped_whole(tiny_tokenizer, tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "Kaixo."}, {"text": " ".join(["Euskara ederra da."] * 40)}])
    data = data_args(tmp_path, sources={"c": {"kind": "corpus", "paths": [str(path)]}}, concatenate=["c"],
                     max_length=32)
    packed, _, report = build_training_set(tiny_tokenizer, data, seed=0)
    assert report.sources[0].dropped_too_long == 1 and len(packed) == 1


def test_a_packed_neighbour_does_not_change_a_documents_logits(tiny_llama_dir, tiny_tokenizer, data_dir, tmp_path):
    """Isolation: the tokens of document B get the same logits alone as after an unrelated document A.

    The model is the one training gets (``load_model``), called as the Trainer calls it (train mode, no
    use_cache argument): a KV cache would make the model ignore the packed position ids."""
    from training.trainer import load_model

    model = load_model(tiny_recipe(tiny_llama_dir, data_dir, tmp_path, use_peft=False)).train()
    batch_of = tokenize_corpus_batch({"text": ["Bihar euria egingo du mendian.",
                                               "Donostia Gipuzkoan dago, itsasoaren ondoan."]}, tiny_tokenizer)
    a, b = batch_of["input_ids"]
    collate = packing_collator(tiny_tokenizer)
    alone = collate([{"input_ids": b, "labels": b, "seq_lengths": [len(b)]}])
    packed = collate([{"input_ids": a + b, "labels": a + b, "seq_lengths": [len(a), len(b)]}])
    assert "attention_mask" not in packed and packed["position_ids"][0, len(a)] == 0  # positions restart
    with torch.no_grad():
        logits_alone = model(**{k: alone[k] for k in ("input_ids", "position_ids")}).logits[0]
        logits_packed = model(**{k: packed[k] for k in ("input_ids", "position_ids")}).logits[0, len(a):]
    torch.testing.assert_close(logits_packed, logits_alone, atol=1e-4, rtol=1e-4)
    # No loss on predicting B's first token from the end of A.
    assert packed["labels"][0, len(a)] == IGNORE_INDEX


def test_held_out_evaluation_sources_are_not_trained(tiny_tokenizer, data_dir, tmp_path):
    held_out = write_jsonl(tmp_path / "aya.jsonl", [conversation("Kaixo?", "Kaixo!")] * 3)
    sources = {"corpus": {"kind": "corpus", "paths": [str(data_dir / "corpus.jsonl")]},
               "aya": {"kind": "instructions", "paths": [str(held_out)]}}
    data = data_args(tmp_path, sources=sources, concatenate=["corpus"], eval_sources=["aya"], max_length=128)
    _, evaluation, report = build_training_set(tiny_tokenizer, data, seed=0)
    assert len(evaluation) == 3 == report.eval_examples and [e.name for e in report.sources] == ["corpus"]


def test_corpus_filters_and_caps_documents(tiny_tokenizer, tmp_path):
    path = write_jsonl(tmp_path / "corpus.jsonl", [
        {"text": "Bibliako testu zaharra.", "source": "bible-corpus"},
        {"text": "Gaur eguraldi ona dago.", "source": "ud"},
        {"text": "   ", "source": "ud"},  # blank documents are skipped
        {"text": "Bihar euria egingo du.", "source": "ud"},
        {"text": "Etzi elurra.", "source": "ud"},
    ])
    sources = {"corpus": {"kind": "corpus", "paths": [str(path)], "exclude_sources": ["^bible"]}}
    _, _, report = build_training_set(tiny_tokenizer, data_args(tmp_path, sources=sources, concatenate=["corpus"],
                                                                max_length=64, max_docs_per_source=4), seed=0)
    assert report.sources[0].documents == 2  # 4 lines read: one excluded, one blank


@pytest.mark.parametrize("records, message", [
    ([{"messages": [{"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "Kaixo!"}]},
      {"messages": [{"role": "user", "content": "Kaixo"}]}], r"bad\.jsonl:2: no assistant message"),
    ([{"messages": [{"role": "robot", "content": "Kaixo"}]}], r"bad\.jsonl:1: message 0 needs a role"),
    ([{"messages": [{"role": "assistant", "content": "Kaixo!"}, {"role": "user", "content": "Zer?"},
                    {"role": "assistant", "content": "Ezer ez."}]}], r"bad\.jsonl:1: .*starts with an assistant"),
    (["just a string"], r"bad\.jsonl:1: expected a JSON object"),
])
def test_bad_instruction_records_name_file_and_line(tiny_tokenizer, tmp_path, records, message):
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    data = data_args(tmp_path, sources={"eu": {"kind": "instructions", "paths": [str(path)]}}, concatenate=["eu"],
                     max_length=64)
    with pytest.raises(DataError, match=message):
        build_training_set(tiny_tokenizer, data, seed=0)


def test_invalid_json_names_file_and_line(tiny_tokenizer, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "Kaixo"}\n{"text": \n')
    data = data_args(tmp_path, sources={"corpus": {"kind": "corpus", "paths": [str(path)]}}, concatenate=["corpus"],
                     max_length=64)
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not valid JSON"):
        build_training_set(tiny_tokenizer, data, seed=0)


def test_an_edited_file_is_not_read_from_the_cache(tiny_tokenizer, tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "Kaixo."}])
    data = data_args(tmp_path, sources={"c": {"kind": "corpus", "paths": [str(path)]}}, concatenate=["c"],
                     max_length=64)
    assert build_training_set(tiny_tokenizer, data, seed=0)[2].sources[0].documents == 1
    write_jsonl(path, [{"text": "Kaixo."}, {"text": "Agur."}])
    assert build_training_set(tiny_tokenizer, data, seed=0)[2].sources[0].documents == 2
