"""Render conversations with the backbone's chat template and mark which tokens are trained.

How assistant turns are found: render the conversation prefix by prefix. For each assistant turn k,
``render(messages[:k], add_generation_prompt=True)`` must be a string prefix of
``render(messages[:k+1])``; the characters in between are that assistant turn (its content and its
end-of-turn marker, so the model learns to stop). Tokens are labelled from the tokenizer's character
offsets of the *full* rendering, so the tokenisation trained on is exactly the one used at inference.

Templates with ``{% generation %}`` markers (our ``llama31.jinja``) take a faster path: one rendering with
``return_assistant_tokens_mask`` gives the same labels. Few shipped templates have the marker (SmolLM2 and
Llama 3 do not), so prefix rendering stays the general way; it works for any template whose history does
not change when a turn is added. Templates that rewrite history (e.g. dropping earlier reasoning) or
that cannot open an assistant turn are refused with a clear error before training starts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

IGNORE_INDEX = -100
ROLES = {"system", "user", "assistant"}


class ChatTemplateError(ValueError):
    """The chat template gives no reliable way to locate assistant turns."""


GENERATION_MARKER = re.compile(r"{%-?\s*generation\s*-?%}")


@dataclass
class RenderedConversation:
    text: str | None  # None on the marker path (not needed for training; render it when you need it)
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX where the loss is masked
    assistant_spans: list[tuple[int, int]]  # character spans of trained text (prefix path only)


def validate_messages(messages, where: str = "conversation") -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: 'messages' must be a non-empty list")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise ValueError(f"{where}: message {i} needs a role in {sorted(ROLES)} and a string content, got {message!r}")
    if not any(m["role"] == "assistant" for m in messages):
        raise ValueError(f"{where}: no assistant message, nothing to train on")
    first = next(m for m in messages if m["role"] != "system")
    if first["role"] == "assistant":
        # Its "prompt" would be empty, so the template's whole prefix (BOS, system block, header) would be trained.
        raise ValueError(f"{where}: the conversation starts with an assistant turn; it must start with a user turn "
                         "(after an optional system message)")


def _render(tokenizer, messages, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_spans(tokenizer, messages) -> tuple[str, list[tuple[int, int]]]:
    """The full rendering and the character span of every assistant turn in it."""
    full = _render(tokenizer, messages, add_generation_prompt=False)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:k], add_generation_prompt=True) if k else ""
        upto = _render(tokenizer, messages[: k + 1], add_generation_prompt=False)
        content = message["content"].strip()
        if content and content not in upto:
            raise ChatTemplateError(
                "the chat template does not render assistant content (assistant messages are dropped); "
                "use backbone.chat_template to supply one that renders them"
            )
        if not upto.startswith(prompt) or not full.startswith(upto):
            raise ChatTemplateError(
                "the chat template is not prefix-stable (rendering a conversation changes when a turn is added), "
                "so assistant turns cannot be located; use backbone.chat_template to supply one that is"
            )
        start, end = len(prompt), len(upto)
        if content and content not in upto[start:end]:
            raise ChatTemplateError(
                "the chat template does not render assistant content where an assistant turn opens "
                "(add_generation_prompt has no effect or assistant messages are dropped); "
                "use backbone.chat_template to supply a template that opens an assistant turn"
            )
        if prompt and prompt == _render(tokenizer, messages[:k], add_generation_prompt=False):
            raise ChatTemplateError(
                "the chat template ignores add_generation_prompt, so the assistant header cannot be told apart "
                "from the assistant's text; use backbone.chat_template to supply a template that opens an assistant turn"
            )
        spans.append((start, end))
    return full, spans


def has_generation_markers(tokenizer) -> bool:
    return bool(GENERATION_MARKER.search(getattr(tokenizer, "chat_template", None) or ""))


def render_marked_conversation(tokenizer, messages) -> RenderedConversation:
    """One rendering: the template's {% generation %} blocks are the trained tokens."""
    encoding = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                             return_assistant_tokens_mask=True)
    ids = list(encoding["input_ids"])
    labels = [t if m else IGNORE_INDEX for t, m in zip(ids, encoding["assistant_masks"])]
    return RenderedConversation(None, ids, labels, [])


def render_conversation(tokenizer, messages) -> RenderedConversation:
    """Tokenise one conversation; labels keep assistant tokens only."""
    if has_generation_markers(tokenizer):
        return render_marked_conversation(tokenizer, messages)
    return render_by_prefixes(tokenizer, messages)


def render_by_prefixes(tokenizer, messages) -> RenderedConversation:
    text, spans = assistant_spans(tokenizer, messages)
    # The template already contains any BOS it wants: don't let the tokenizer add another.
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for token_id, (start, end) in zip(encoding["input_ids"], encoding["offset_mapping"]):
        # A token belongs to a turn when its first character does (a token never straddles a template tag).
        trained = any(s <= start < e for s, e in spans) and end > start
        labels.append(token_id if trained else IGNORE_INDEX)
    return RenderedConversation(text, list(encoding["input_ids"]), labels, spans)


def check_chat_template(tokenizer) -> None:
    """Fail early (before any training) when assistant turns cannot be located with this tokenizer."""
    if not getattr(tokenizer, "chat_template", None):
        raise ChatTemplateError(
            "the backbone's tokenizer has no chat template; instruction data needs one "
            "(set backbone.chat_template to a Jinja file, e.g. training/templates/chatml.jinja)"
        )
    if not getattr(tokenizer, "is_fast", False):
        raise ChatTemplateError("assistant masks need a fast tokenizer (character offsets)")
    probe = [
        {"role": "user", "content": "Kaixo, zer moduz?"},
        {"role": "assistant", "content": "Ondo, eskerrik asko."},
        {"role": "user", "content": "Eta zu?"},
        {"role": "assistant", "content": "Ni ere bai."},
    ]
    rendered = render_conversation(tokenizer, probe)
    trained_text = tokenizer.decode([label for label in rendered.labels if label != IGNORE_INDEX])
    if "Kaixo" in trained_text or "Eta zu" in trained_text:
        raise ChatTemplateError("the chat template puts user text inside assistant turns")
    if not any(label != IGNORE_INDEX for label in rendered.labels):
        raise ChatTemplateError("no token of the probe conversation's assistant turns could be located")
