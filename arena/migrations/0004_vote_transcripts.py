"""Freeze each vote's two conversations (see VoteTranscript), for the votes cast so far too."""
import django.db.models.deletion
from django.db import migrations, models

from arena.transcripts import encoded_sides, messages_by_battle

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
