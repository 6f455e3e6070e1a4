"""Loss masks: corpus fully trained, prompts masked, assistant turns (and their end marker) trained."""
from __future__ import annotations

import copy

import pytest

from training.chat_masks import IGNORE_INDEX, ChatTemplateError, check_chat_template, render_conversation
from training.data_mixing import tokenize_corpus

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


def test_corpus_tokens_are_all_trained(tiny_tokenizer):
    [example] = tokenize_corpus(tiny_tokenizer, ["Gaur eguraldi ona dago eta mendira joango gara."], "corpus")
    assert example.labels == example.input_ids
    assert example.input_ids[-1] == tiny_tokenizer.eos_token_id  # the document end is learnt too


@pytest.mark.parametrize("template", [None, SMOLLM2_TEMPLATE], ids=["chatml", "smollm2"])
def test_only_assistant_turns_are_trained(tiny_tokenizer, template):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    if template:
        tokenizer.chat_template = template
    messages = CONVERSATION[1:] if template else CONVERSATION
    rendered = render_conversation(tokenizer, messages)
    trained, masked = trained_and_masked(tokenizer, rendered)
    # Exactly the two answers with their end-of-turn markers, in order; nothing else.
    assert trained == "Bilbo Bizkaian dago.<|im_end|>\nGasteiz Araban dago.<|im_end|>\n"
    for prompt_text in ("Non dago Bilbo?", "Eta Gasteiz?", "<|im_start|>user", "<|im_start|>assistant\n"):
        assert prompt_text in masked
    assert rendered.input_ids == tokenizer(rendered.text, add_special_tokens=False)["input_ids"]
    if template:
        assert "SmolLM" in masked  # the injected system turn is a prompt, never trained


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


def test_good_templates_pass_the_check(tiny_tokenizer):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    check_chat_template(tokenizer)
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    check_chat_template(tokenizer)
