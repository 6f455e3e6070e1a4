"""The one rule for "this side's conversation", used by every path that shows, sends or stores one.

A side's conversation is its frozen system prompt (when it had one), then, turn by turn, the
prompt both sides saw and that side's answer. Every stored answer is kept, an empty one as ``""``:
an answer stopped before its first token is still what the volunteer saw and judged, and keeping
it keeps the roles alternating for the model's next turn. It is what the model is sent
(``services.begin_turn``), what is frozen with the vote (``VoteTranscript``), what the exports
publish as ``conv_a``/``conv_b`` (``arena/export/lines.py`` builds the same JSON in PostgreSQL),
and what the admin's vote page and the volunteer's data download show (``arena/selectors.py``).

Pure functions: the reads live in ``arena/selectors.py``.
"""
from __future__ import annotations

from collections.abc import Iterable

from arena.jsonio import dumps
from arena.vocabulary import SIDES

# One stored message: (turn, role, side, content); side "" is a prompt both sides saw.
MessageRow = tuple[int, str, str, str]
MESSAGE_FIELDS = ("turn", "role", "side", "content")  # values_list() order of a MessageRow


def side_conversation(system_prompt: str, rows: Iterable[MessageRow], side: str) -> list[dict]:
    """``side``'s conversation from its system prompt and the battle's messages (any order)."""
    conversation = [{"role": "system", "content": system_prompt}] if system_prompt else []
    # By turn, the prompt (side "") before the answer: the order the SQL builder uses too.
    mine = sorted((row for row in rows if row[2] in ("", side)), key=lambda row: (row[0], row[2]))
    conversation += [{"role": role, "content": content} for _turn, role, _side, content in mine]
    return conversation


def conversations(snapshot_a: dict, snapshot_b: dict, rows: Iterable[MessageRow]) -> dict[str, list[dict]]:
    """Both sides' conversations, keyed "A" and "B", from the battle's frozen settings and messages."""
    rows = list(rows)
    snapshots = dict(zip(SIDES, (snapshot_a, snapshot_b)))
    return {side: side_conversation(snapshots[side].get("system_prompt", ""), rows, side) for side in SIDES}


def encode(conversation: list[dict]) -> str:
    """Compact UTF-8 JSON text, as frozen on the vote and spliced into exports."""
    return dumps(conversation).decode("utf-8")


def encoded_sides(snapshot_a: dict, snapshot_b: dict, rows: Iterable[MessageRow]) -> tuple[str, str]:
    """Both sides' conversations, encoded: (side A, side B)."""
    both = conversations(snapshot_a, snapshot_b, rows)
    return encode(both["A"]), encode(both["B"])
