"""Loss masks of conversations: prompts masked, assistant turns (and their end marker) trained."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from training.chat_masks import IGNORE_INDEX, ChatTemplateError, check_chat_template, render_conversation

# SmolLM2-135M-Instruct's template (adds a default system turn when there is none).
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CONVERSATION = [
    {"role": "system", "content": "Euskaraz erantzun."},
    {"role": "user", "content": "Non dago Bilbo?"},
    {"role": "assistant", "content": "Bilbo Bizkaian dago."},
    {"role": "user", "content": "Eta Gasteiz?"},
    {"role": "assistant", "content": "Gasteiz Araban dago."},
]


def trained_and_masked(tokenizer, rendered):
    trained = [t for t, l in zip(rendered.input_ids, rendered.labels) if l != IGNORE_INDEX]
    masked = [t for t, l in zip(rendered.input_ids, rendered.labels) if l == IGNORE_INDEX]
    return tokenizer.decode(trained), tokenizer.decode(masked)


def test_template_missing_fails(tiny_tokenizer):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = None
    with pytest.raises(ChatTemplateError, match="no chat template"):
        check_chat_template(tokenizer)


@pytest.mark.parametrize("template, reason", [
    # No assistant header and add_generation_prompt ignored: the answer cannot be told from its header.
    ("{% for m in messages %}{{ m['content'] }}\n{% endfor %}", "ignores add_generation_prompt"),
    # History rewritten when a turn is added (only the last two messages are kept).
    ("{% for m in messages[-2:] %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}", "prefix-stable"),
    # Assistant messages dropped.
    ("{% for m in messages %}{% if m['role'] != 'assistant' %}{{ m['content'] }}{% endif %}{% endfor %}"
     "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}", "does not render assistant content"),
])
def test_templates_without_locatable_assistant_turns_fail(tiny_tokenizer, template, reason):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = template
    with pytest.raises(ChatTemplateError, match=reason):
        check_chat_template(tokenizer)


TEMPLATES = Path(__file__).resolve().parents[2] / "training" / "templates"


@pytest.mark.parametrize("template, turn_end", [
    (None, "<|im_end|>\n"),  # the tiny model's own ChatML template
    (SMOLLM2_TEMPLATE, "<|im_end|>\n"),  # injects a default system turn when there is none
    ((TEMPLATES / "chatml.jinja").read_text(), "<|im_end|>\n"),
    ((TEMPLATES / "llama31.jinja").read_text(), "<|eot_id|>"),  # the study's, for every backbone
], ids=["own", "smollm2", "chatml.jinja", "llama31.jinja"])
@pytest.mark.parametrize("with_system", [True, False], ids=["system", "no-system"])
def test_templates_that_pass_the_check_train_exactly_the_answers(tiny_tokenizer, template, turn_end, with_system):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    if template:
        tokenizer.chat_template = template
    check_chat_template(tokenizer)  # raises for a template whose assistant turns cannot be located
    rendered = render_conversation(tokenizer, CONVERSATION if with_system else CONVERSATION[1:])
    trained, masked = trained_and_masked(tokenizer, rendered)
    # Exactly the two answers with their end-of-turn markers, in order; nothing else.
    assert trained == f"Bilbo Bizkaian dago.{turn_end}Gasteiz Araban dago.{turn_end}"
    for prompt_text in ("Non dago Bilbo?", "Eta Gasteiz?", "assistant"):
        assert prompt_text in masked
    if with_system:
        assert "Euskaraz erantzun." in masked
    elif template == SMOLLM2_TEMPLATE:
        assert "SmolLM" in masked  # the injected system turn is a prompt, never trained
    # Labels are laid on the tokenisation used at inference, not on a re-tokenised piece of it.
    text = tokenizer.apply_chat_template(CONVERSATION if with_system else CONVERSATION[1:], tokenize=False)
    assert rendered.input_ids == tokenizer(text, add_special_tokens=False)["input_ids"]


def llama31_tokenizer(tiny_tokenizer):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.add_special_tokens({"bos_token": "<|begin_of_text|>"})
    tokenizer.chat_template = (TEMPLATES / "llama31.jinja").read_text()
    return tokenizer


def test_the_llama31_template_renders_the_studys_format(tiny_tokenizer):
    """Expected text: the study's chat_template_jinja (exp_*_fixed.yaml) rendered with BOS <|begin_of_text|>."""
    tokenizer = llama31_tokenizer(tiny_tokenizer)
    messages = [{"role": "user", "content": " Kaixo "}, {"role": "assistant", "content": "Zer moduz?\n"}]
    header = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
              "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n")
    assert tokenizer.apply_chat_template(messages, tokenize=False) == (
        header + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nKaixo<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nZer moduz?<|eot_id|>")
    system = [{"role": "system", "content": "Euskaraz."}, messages[0]]
    assert tokenizer.apply_chat_template(system, tokenize=False, add_generation_prompt=True) == (
        header + "Euskaraz.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nKaixo<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n")


@pytest.mark.parametrize("with_system", [True, False], ids=["system", "no-system"])
def test_one_rendering_with_generation_markers_gives_the_prefix_labels(tiny_tokenizer, with_system):
    from training.chat_masks import has_generation_markers, render_by_prefixes, render_marked_conversation

    tokenizer = llama31_tokenizer(tiny_tokenizer)
    assert has_generation_markers(tokenizer) and not has_generation_markers(tiny_tokenizer)
    messages = CONVERSATION if with_system else CONVERSATION[1:]
    marked, by_prefixes = render_marked_conversation(tokenizer, messages), render_by_prefixes(tokenizer, messages)
    assert (marked.input_ids, marked.labels) == (by_prefixes.input_ids, by_prefixes.labels)


def test_a_conversation_starting_with_an_assistant_turn_is_refused():
    from training.chat_masks import validate_messages

    with pytest.raises(ValueError, match="starts with an assistant turn; it must start with a user turn"):
        validate_messages([{"role": "system", "content": "Kaixo"}, {"role": "assistant", "content": "Kaixo!"}],
                          "x.jsonl:3")
