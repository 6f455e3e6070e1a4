"""Freeze each vote's two conversations (see VoteTranscript), for the votes cast so far too."""
import django.db.models.deletion
from django.db import migrations, models

from arena.transcripts import encode, side_messages

BATCH = 1000


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
        messages: dict = {}
        rows = (Message.objects.filter(battle_id__in=[vote.battle_id for vote in votes])
                .order_by("battle_id", "turn", "side").values_list("battle_id", "role", "side", "content"))
        for battle_id, role, side, content in rows:
            messages.setdefault(battle_id, []).append((role, side, content))
        frozen = []
        for vote in votes:
            sides = [
                encode(side_messages((snapshot or {}).get("system_prompt", ""), messages.get(vote.battle_id, []), side))
                for side, snapshot in (("A", vote.battle.snapshot_a), ("B", vote.battle.snapshot_b))
            ]
            frozen.append(VoteTranscript(vote=vote, side_a=sides[0], side_b=sides[1]))
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
