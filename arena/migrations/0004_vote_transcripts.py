"""Freeze each vote's two conversations on the vote (see Vote.transcript_a), for the votes cast so far."""
from django.db import migrations, models

from arena.transcripts import encode, side_messages

BATCH = 1000


def freeze_existing(apps, schema_editor):
    Vote = apps.get_model("arena", "Vote")
    Message = apps.get_model("arena", "Message")
    last_id = 0
    while True:
        votes = list(Vote.objects.filter(id__gt=last_id, transcript_a__isnull=True).select_related("battle")
                     .order_by("id")[:BATCH])
        if not votes:
            return
        messages: dict = {}
        rows = (Message.objects.filter(battle_id__in=[vote.battle_id for vote in votes])
                .order_by("battle_id", "turn", "side").values_list("battle_id", "role", "side", "content"))
        for battle_id, role, side, content in rows:
            messages.setdefault(battle_id, []).append((role, side, content))
        for vote in votes:
            battle_messages = messages.get(vote.battle_id, [])
            for side, snapshot in (("A", vote.battle.snapshot_a), ("B", vote.battle.snapshot_b)):
                transcript = encode(side_messages((snapshot or {}).get("system_prompt", ""), battle_messages, side))
                setattr(vote, f"transcript_{side.lower()}", transcript)
        Vote.objects.bulk_update(votes, ["transcript_a", "transcript_b"])
        last_id = votes[-1].id


class Migration(migrations.Migration):
    dependencies = [("arena", "0003_vote_model_pair")]
    operations = [
        migrations.AddField(model_name="vote", name="transcript_a",
                            field=models.TextField(blank=True, editable=False, null=True)),
        migrations.AddField(model_name="vote", name="transcript_b",
                            field=models.TextField(blank=True, editable=False, null=True)),
        migrations.RunPython(freeze_existing, migrations.RunPython.noop),
    ]
