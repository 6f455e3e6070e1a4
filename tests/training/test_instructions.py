"""The instructions pipeline samples, filters, translates and writes real data; its options are checked."""
from __future__ import annotations

import json

import pytest

from training.config import parse_arguments
from training.instructions import InstructionsConfig, InstructionsError, generate_instructions

from tests.training.factories import BASQUE_QA, conversation, tiny_recipe, write_jsonl


@pytest.fixture(scope="module")
def magpie_model(tiny_llama_dir, data_dir, tmp_path_factory):
    """The tiny Llama overfit on a few Basque Q&A pairs: a (very) small instructed model."""
    from training.trainer import run_training

    root = tmp_path_factory.mktemp("magpie")
    qa = write_jsonl(root / "qa.jsonl", [conversation(q, a) for q, a in BASQUE_QA] * 10)
    recipe = tiny_recipe(tiny_llama_dir, data_dir, root / "model", use_peft=False, learning_rate=3e-3,
                         num_train_epochs=30, data={"sources": {"qa": {"kind": "instructions", "paths": [str(qa)]}},
                                                    "mix": {"qa": 1.0}, "total_tokens": None})
    return run_training(recipe).output_dir


def test_pipeline_samples_filters_and_writes(magpie_model, tmp_path):
    translated = []

    def translator(text: str) -> str:  # a deterministic "served model": marks what went through translation
        translated.append(text)
        return "Zer da euskara?"

    out = tmp_path / "eu.jsonl"
    # Instructions sampled at 0.3, not 0.7: at 0.7 this machine's CPU numerics drew a garbled question
    # ("6 m6 mia Gipuzkoan.") from the seeded sampler; repeats (the duplicate filter's work) still come.
    cfg = InstructionsConfig(model=str(magpie_model), out=str(out), count=24, backend="transformers",
                             instruction_temperature=0.3, response_temperature=0.3, max_instruction_tokens=24,
                             max_response_tokens=24, languages=["eu"], translate_to="eu",
                             translate_url="http://unused", translate_model="unused", seed=0, batch_size=12)
    manifest = generate_instructions(cfg, translator=translator, progress=False)

    assert manifest["magpie_prefix"] == "<|im_start|>user\n" and manifest["backend"] == "TransformersBackend"
    filters = {f["name"]: f for f in manifest["filters"]}
    assert filters["instruction_empty"]["seen"] == 24
    chain = manifest["filters"]
    for before, after in zip(chain, chain[1:]):  # every item is accounted for, filter by filter
        assert after["seen"] == before["kept"]
    assert chain[-1]["kept"] == manifest["written"] > 0
    assert filters["exact_duplicate"]["removed"] > 0  # an overfit model repeats its six questions
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == manifest["written"]
    # An overfit model can only say what it learnt: its questions, its answers, or the translator's output.
    learnt = {text for pair in BASQUE_QA for text in pair} | {"Zer da euskara?"}
    for row in rows:
        user, assistant = row["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant" and assistant["content"]
        assert "<|im" not in user["content"] + assistant["content"]
        assert row["language"] == "eu"
        # (or the start of one: sampling may close the turn early, e.g. "Zerua urdina da.")
        assert any(text.startswith(user["content"].rstrip(".?")) for text in learnt), user["content"]
        if row.get("original_instruction"):
            assert row["original_instruction"] in translated and user["content"] == "Zer da euskara?"
    assert json.loads((tmp_path / "eu.jsonl.manifest.json").read_text())["written"] == len(rows)


def test_the_studys_path_judges_translates_whole_conversations_and_samples(magpie_model, tmp_path):
    from training.served_models import Tags

    def judge(instruction: str) -> Tags:  # a deterministic judge model
        if "ingelesez" in instruction:
            return Tags("Translation", "excellent")
        return Tags("Information seeking", "poor" if "euskara" in instruction else "good")

    out = tmp_path / "eu.jsonl"
    cfg = InstructionsConfig(model=str(magpie_model), out=str(out), count=24, backend="transformers",
                             max_instruction_tokens=24, max_response_tokens=24, language_action="tag",
                             translate_to="eu", translate_mode="conversation", translate_url="http://unused",
                             translate_model="unused", judge_url="http://unused", judge_model="unused",
                             sample_size=2, seed=0, batch_size=12)
    manifest = generate_instructions(cfg, translator=lambda text: f"EU: {text}", judge=judge, progress=False)
    names = [f["name"] for f in manifest["filters"]]
    assert names.index("quality") < names.index("translation_task") < names.index("response_empty")
    assert names.index("response_length") < names.index("translation_empty") < names.index("sample")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert 0 < len(rows) <= 2 == cfg.sample_size
    for row in rows:
        user, assistant = row["messages"]
        assert user["content"] == f"EU: {row['original_instruction']}"  # instruction and response translated
        assert assistant["content"] == f"EU: {row['original_response']}"
        assert "ingelesez" not in user["content"] and "euskara" not in user["content"]  # translation task, poor
        assert (row["task"], row["quality"]) == ("Information seeking", "good")


def test_options_parse_from_the_command_line():
    [cfg] = parse_arguments([InstructionsConfig], {}, argv=[
        "--model", "m", "--out", "o.jsonl", "--languages", "eu,en", "es", "--language-action", "tag", "--count", "5"])
    assert cfg.languages == ["eu", "en", "es"] and cfg.language_action == "tag" and cfg.count == 5


@pytest.mark.parametrize("options, message", [
    ({"translate_to": "eu"}, "--translate-to needs"),
    ({"count": 0}, "--count must be >= 1"),
    ({"judge_url": "http://judge"}, "--judge-url and --judge-model go together"),
    ({"sample_size": 0}, "--sample-size must be >= 1"),
    ({"response_top_p": 1.5}, "--response-top-p must be in"),
    ({"model": "/nonexistent/model"}, "not a checkpoint folder"),
])
def test_instruction_options_are_checked(tmp_path, tiny_llama_dir, options, message):
    cfg = InstructionsConfig(**{"model": str(tiny_llama_dir), "out": str(tmp_path / "x.jsonl"), **options})
    with pytest.raises(InstructionsError, match=message):
        generate_instructions(cfg, progress=False)
