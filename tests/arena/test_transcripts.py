"""Transcripts frozen on the vote: what cast_vote stores, and the migration that freezes older votes."""
from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps

from arena import services
from arena.models import Battle, Message, Vote, VoteTranscript
from arena.transcripts import transcripts

freeze_migration = importlib.import_module("arena.migrations.0004_vote_transcripts")


def two_turn_battle(participant, models) -> Battle:
    battle = Battle.objects.create(
        participant=participant, model_a=models[0], model_b=models[1], status=Battle.Status.READY,
        snapshot_a=models[0].sampling_snapshot(), snapshot_b={**models[1].sampling_snapshot(), "system_prompt": ""},
    )
    # Stored out of order, with characters JSON must escape: the transcript orders and encodes them.
    for turn, prompt in ((1, 'Eta "bigarrena"?\n'), (0, "Kaixo\\ zer moduz? ñ €")):
        for side in "BA":
            Message.objects.create(battle=battle, turn=turn, role="assistant", side=side, content=f"{side}{turn}\t<b>")
        Message.objects.create(battle=battle, turn=turn, role="user", side="", content=prompt)
    return battle


EXPECTED_A = [
    {"role": "system", "content": "Zu Alfa zara."},
    {"role": "user", "content": "Kaixo\\ zer moduz? ñ €"}, {"role": "assistant", "content": "A0\t<b>"},
    {"role": "user", "content": 'Eta "bigarrena"?\n'}, {"role": "assistant", "content": "A1\t<b>"},
]
EXPECTED_B = [  # no system prompt on this side
    {"role": "user", "content": "Kaixo\\ zer moduz? ñ €"}, {"role": "assistant", "content": "B0\t<b>"},
    {"role": "user", "content": 'Eta "bigarrena"?\n'}, {"role": "assistant", "content": "B1\t<b>"},
]


@pytest.mark.django_db
def test_cast_vote_freezes_both_conversations_as_compact_json(participant, echo_models):
    battle = two_turn_battle(participant, echo_models)
    vote = services.cast_vote(battle.pk, participant, content="A", language="B", overall="tie")
    frozen = VoteTranscript.objects.get(vote=vote)
    assert json.loads(frozen.side_a) == EXPECTED_A
    assert json.loads(frozen.side_b) == EXPECTED_B
    # Compact and readable UTF-8, as the exports write it.
    assert frozen.side_b.startswith('[{"role":"user","content":"Kaixo\\\\ zer moduz? ñ €"}')
    # Editing a message afterwards (it should never happen) does not rewrite the study's record.
    Message.objects.filter(battle=battle).update(content="changed")
    frozen.refresh_from_db()
    assert json.loads(frozen.side_a) == EXPECTED_A


@pytest.mark.django_db
def test_a_refused_vote_freezes_nothing(participant, echo_models):
    battle = two_turn_battle(participant, echo_models)
    Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.ANSWERING)
    with pytest.raises(services.ArenaError):
        services.cast_vote(battle.pk, participant, content="A", language="A", overall="A")
    assert not Vote.objects.exists() and not VoteTranscript.objects.exists()


@pytest.mark.django_db
def test_the_migration_freezes_votes_cast_before_it(participant, echo_models):
    battles = [two_turn_battle(participant, echo_models) for _ in range(3)]
    for battle in battles:
        services.cast_vote(battle.pk, participant, content="A", language="A", overall="A")
    frozen = {row.pk: (row.side_a, row.side_b) for row in VoteTranscript.objects.all()}
    assert len(frozen) == 3
    VoteTranscript.objects.filter(pk__in=list(frozen)[:2]).delete()
    freeze_migration.BATCH = 1  # several batches, as on a big database
    try:
        freeze_migration.freeze_existing(apps, None)
    finally:
        freeze_migration.BATCH = 1000
    assert {row.pk: (row.side_a, row.side_b) for row in VoteTranscript.objects.all()} == frozen
    assert transcripts(battles[0]) == frozen[Vote.objects.get(battle=battles[0]).pk]
