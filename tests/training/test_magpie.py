"""Magpie: the pre-query prefix holds no user text; stop markers; the backend choice."""
from __future__ import annotations

import copy

import pytest

from training import magpie
from training.chat_masks import ChatTemplateError
from training.magpie import choose_backend, cut_at_stop, magpie_prefix, response_prompt, turn_end_markers


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


@pytest.mark.parametrize("template, expected", [
    ("llama31.jinja", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"),  # no date / system block
    ("smollm2", "<|im_start|>user\n"),  # without the default system prompt the template adds
])
def test_the_bare_prefix_is_magpies_pre_query_template(tiny_tokenizer, template, expected):
    from pathlib import Path

    from tests.training.test_chat_masks import SMOLLM2_TEMPLATE

    tokenizer = copy.deepcopy(tiny_tokenizer)
    if template == "smollm2":
        tokenizer.chat_template = SMOLLM2_TEMPLATE
    else:
        tokenizer.add_special_tokens({"bos_token": "<|begin_of_text|>"})
        tokenizer.chat_template = (Path(__file__).resolve().parents[2] / "training" / "templates" / template).read_text()
    assert magpie_prefix(tokenizer) == expected
    assert magpie_prefix(tokenizer, "Euskaraz.").endswith("Euskaraz.<|eot_id|>" + expected.removeprefix(
        "<|begin_of_text|>") if template != "smollm2" else "Euskaraz.<|im_end|>\n" + expected)


def test_turn_end_markers_and_response_prompt(tiny_tokenizer):
    assert turn_end_markers(tiny_tokenizer) == (["<|im_end|>"], ["<|im_end|>"])
    assert response_prompt(tiny_tokenizer, "Non dago Bilbo?") == "<|im_start|>user\nNon dago Bilbo?<|im_end|>\n<|im_start|>assistant\n"
    assert cut_at_stop("Bizkaian.<|im_end|>\nbai", ["<|im_end|>"]) == ("Bizkaian.", True)
    assert cut_at_stop("Bizkaian", ["<|im_end|>"]) == ("Bizkaian", False)


def test_templates_that_hide_the_user_text_are_refused(tiny_tokenizer):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}{% endfor %}"
    with pytest.raises(ChatTemplateError, match="verbatim"):
        magpie_prefix(tokenizer)
    tokenizer.chat_template = None
    with pytest.raises(ChatTemplateError, match="has none"):
        magpie_prefix(tokenizer)


@pytest.mark.parametrize("vllm_installed", [True, False])
def test_backend_choice_is_explicit(monkeypatch, vllm_installed):
    monkeypatch.setattr(magpie.importlib.util, "find_spec",
                        lambda name: object() if name == "vllm" and vllm_installed else None)
    assert choose_backend("auto") == ("vllm" if vllm_installed else "transformers")
    assert choose_backend("transformers") == "transformers"
    if vllm_installed:
        assert choose_backend("vllm") == "vllm"
    else:
        with pytest.raises(magpie.BackendError, match="vllm is not installed"):
            choose_backend("vllm")
    with pytest.raises(magpie.BackendError, match="unknown backend"):
        choose_backend("llama.cpp")
