"""Each side's conversation as the volunteer judged it, frozen on the vote as compact JSON text.

A transcript is that side's system prompt (when it had one), then the shared prompts and that
side's answers, ordered by turn with the prompt first: exactly what the study publishes as
``conv_a``/``conv_b``. It is written once, when the vote is cast (the battle can no longer change),
so exports copy the stored bytes instead of re-reading and re-encoding every message.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

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


def encoded_sides(snapshot_a: dict, snapshot_b: dict, messages: Iterable[tuple[str, str, str]]) -> tuple[str, str]:
    """Both sides' transcripts, encoded, from the battle's frozen settings and its messages."""
    messages = list(messages)
    return tuple(encode(side_messages(snapshot.get("system_prompt", ""), messages, side))
                 for side, snapshot in (("A", snapshot_a), ("B", snapshot_b)))


def messages_by_battle(messages: QuerySet) -> dict:
    """battle id -> [(role, side, content)] in transcript order, from one query over ``messages``."""
    by_battle: dict = {}
    rows = messages.order_by("battle_id", "turn", "side").values_list("battle_id", "role", "side", "content")
    for battle_id, role, side, content in rows:
        by_battle.setdefault(battle_id, []).append((role, side, content))
    return by_battle


def transcripts_of(battles: Iterable[Battle]) -> dict[str, tuple[str, str]]:
    """str(battle id) -> both sides' encoded transcripts, from the stored messages, in one query."""
    battles = list(battles)
    messages = messages_by_battle(Message.objects.filter(battle__in=battles))
    return {str(battle.pk): encoded_sides(battle.snapshot_a, battle.snapshot_b, messages.get(battle.pk, []))
            for battle in battles}


def transcripts(battle: Battle) -> tuple[str, str]:
    return transcripts_of([battle])[str(battle.pk)]
