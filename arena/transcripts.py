"""Each side's conversation as the volunteer judged it, frozen on the vote as compact JSON text.

A transcript is that side's system prompt (when it had one), then the shared prompts and that
side's answers, ordered by turn with the prompt first: exactly what the study publishes as
``conv_a``/``conv_b``. It is written once, when the vote is cast (the battle can no longer change),
so exports copy the stored bytes instead of re-reading and re-encoding every message.
"""
from __future__ import annotations

from collections.abc import Iterable

from arena.jsonio import dumps
from arena.models import Battle, Message


def side_messages(system_prompt: str, messages: Iterable[tuple[str, str, str]], side: str) -> list[dict]:
    """``messages``: (role, side, content) ordered by (turn, side); side "" is a prompt both sides saw."""
    conversation = [{"role": "system", "content": system_prompt}] if system_prompt else []
    conversation += [{"role": role, "content": content} for role, message_side, content in messages
                     if message_side in ("", side)]
    return conversation


def encode(conversation: list[dict]) -> str:
    return dumps(conversation).decode("utf-8")


def transcripts_of(battles: Iterable[Battle]) -> dict[str, tuple[str, str]]:
    """str(battle id) -> both sides' encoded transcripts, from the stored messages, in one query."""
    battles = list(battles)
    messages: dict = {}
    rows = (Message.objects.filter(battle__in=battles).order_by("battle_id", "turn", "side")
            .values_list("battle_id", "role", "side", "content"))
    for battle_id, role, side, content in rows:
        messages.setdefault(battle_id, []).append((role, side, content))
    return {
        str(battle.pk): tuple(
            encode(side_messages(battle.snapshot_for(side).get("system_prompt", ""), messages.get(battle.pk, []), side))
            for side in "AB"
        )
        for battle in battles
    }


def transcripts(battle: Battle) -> tuple[str, str]:
    return transcripts_of([battle])[str(battle.pk)]
