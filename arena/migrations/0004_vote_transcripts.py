"""Freeze each vote's two conversations (see VoteTranscript), for the votes cast so far too.

Self-contained, as migrations must be: the rule and the encoding below are a frozen copy of what
arena/transcripts.py did when this migration was written (the system prompt when there is one,
then by (turn, side) the prompts and that side's answers, empty ones included; compact UTF-8 JSON).
"""
import json

import django.db.models.deletion
from django.db import migrations, models

BATCH = 1000


def encoded_sides(snapshot_a, snapshot_b, rows):
    """(side A, side B) as compact JSON text from ``rows`` = [(turn, role, side, content)]."""
    encoded = []
    for side, snapshot in (("A", snapshot_a), ("B", snapshot_b)):
        system_prompt = snapshot.get("system_prompt", "")
        conversation = [{"role": "system", "content": system_prompt}] if system_prompt else []
        mine = sorted((row for row in rows if row[2] in ("", side)), key=lambda row: (row[0], row[2]))
        conversation += [{"role": role, "content": content} for _turn, role, _side, content in mine]
        encoded.append(json.dumps(conversation, ensure_ascii=False, separators=(",", ":")))
    return tuple(encoded)


def messages_by_battle(messages):
    """battle id -> [(turn, role, side, content)], from one query over ``messages``."""
    by_battle = {}
    for battle_id, *row in messages.values_list("battle_id", "turn", "role", "side", "content"):
        by_battle.setdefault(battle_id, []).append(tuple(row))
    return by_battle


def freeze_existing(apps, schema_editor):
    Vote = apps.get_model("arena", "Vote")
    Message = apps.get_model("arena", "Message")
    VoteTranscript = apps.get_model("arena", "VoteTranscript")
    last_id = 0
    while True:
        votes = list(Vote.objects.filter(id__gt=last_id, transcript__isnull=True).select_related("battle")
                     .order_by("id")[:BATCH])
        if not votes:
            return
        messages = messages_by_battle(Message.objects.filter(battle_id__in=[vote.battle_id for vote in votes]))
        frozen = []
        for vote in votes:
            side_a, side_b = encoded_sides(vote.battle.snapshot_a, vote.battle.snapshot_b,
                                           messages.get(vote.battle_id, []))
            frozen.append(VoteTranscript(vote=vote, side_a=side_a, side_b=side_b))
        VoteTranscript.objects.bulk_create(frozen)
        last_id = votes[-1].id


class Migration(migrations.Migration):
    dependencies = [("arena", "0003_vote_model_pair")]
    operations = [
        migrations.CreateModel(
            name="VoteTranscript",
            fields=[
                ("vote", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                              related_name="transcript", serialize=False, to="arena.vote")),
                ("side_a", models.TextField()),
                ("side_b", models.TextField()),
            ],
        ),
        migrations.RunPython(freeze_existing, migrations.RunPython.noop),
    ]
