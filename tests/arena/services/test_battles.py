"""Writes (arena/services/battles.py): a vote is stored once, with its conversations frozen, and announced only after commit."""
from __future__ import annotations

import json
import threading

import pytest
from django.db import connection

from arena import services
from arena.models import Battle, Message, Vote, VoteTranscript
from tests.arena.conftest import make_participant
from tests.arena.factories import VALID, ready_battle, two_turn_battle


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
    vote = services.cast_vote(battle_id=battle.pk, participant=participant, content="A", language="B", overall="tie")
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
def test_a_refused_vote_stores_freezes_and_announces_nothing(participant, echo_models,
                                                             django_capture_on_commit_callbacks):
    battle = two_turn_battle(participant, echo_models)
    Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.ANSWERING)
    announced = []
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(services.ArenaError) as refused:
        services.cast_vote(battle_id=battle.pk, participant=participant, **VALID, after_commit=announced.append)
    assert refused.value.code == "not_ready"
    assert not Vote.objects.exists() and not VoteTranscript.objects.exists() and announced == []


@pytest.mark.django_db
def test_after_commit_runs_once_the_vote_is_committed(participant, echo_models, django_capture_on_commit_callbacks):
    battle = ready_battle(participant, echo_models)
    announced = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        vote = services.cast_vote(battle_id=battle.pk, participant=participant, **VALID, after_commit=announced.append)
    assert announced == [] and len(callbacks) == 1
    callbacks[0]()
    assert announced == [vote.pk]


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_stores_one_vote(echo_models):
    participant = make_participant()
    battle = ready_battle(participant, echo_models)
    outcomes = []

    def submit():
        try:
            services.cast_vote(battle_id=battle.pk, participant=participant, **VALID)
            outcomes.append("ok")
        except services.ArenaError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already_voted"] * 3 + ["ok"]
    assert Vote.objects.count() == 1
