"""Votes (arena/services/votes.py): a vote is stored once, with its conversations frozen, and announced only after commit."""
from __future__ import annotations

import json
import threading
import uuid

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


@pytest.mark.django_db
def test_cast_votes_decides_each_ballot_alone_and_stores_the_good_ones_together(participant, echo_models,
                                                                               django_capture_on_commit_callbacks):
    stranger = make_participant("mikel")
    ready = [ready_battle(participant, echo_models) for _ in range(2)]
    answering = ready_battle(participant, echo_models, status=Battle.Status.ANSWERING)
    theirs = ready_battle(stranger, echo_models)
    same = dict(participant_id=participant.pk, **VALID)
    ballots = [
        services.Ballot(battle_id=ready[0].pk, **same),
        services.Ballot(battle_id=answering.pk, **same),
        services.Ballot(battle_id=theirs.pk, **same),
        services.Ballot(battle_id=ready[0].pk, **same),  # the same vote again (two tabs): answered again
        services.Ballot(battle_id=ready[0].pk, participant_id=participant.pk, content="B", language="B", overall="B"),
        services.Ballot(battle_id=uuid.uuid4(), **same),
        services.Ballot(battle_id=ready[1].pk, participant_id=participant.pk, content="tie", language="B",
                        overall="both_bad"),
    ]
    announced = []
    with django_capture_on_commit_callbacks(execute=True):
        results = services.cast_votes(ballots=ballots, after_commit=announced.append)
    codes = [result.error.code if result.error else ("repeat" if result.repeat else "stored") for result in results]
    assert codes == ["stored", "not_ready", "not_yours", "repeat", "already_voted", "not_found", "stored"]
    assert results[3].vote.pk == results[0].vote.pk
    stored = {vote.battle_id: vote for vote in Vote.objects.select_related("transcript")}
    assert set(stored) == {ready[0].pk, ready[1].pk}
    assert (stored[ready[1].pk].overall, stored[ready[1].pk].basque_level) == ("both_bad", "C1-C2")
    assert all(json.loads(vote.transcript.side_a)[-1]["content"] == "Kaixo A!" for vote in stored.values())
    assert set(Battle.objects.filter(status=Battle.Status.VOTED).values_list("pk", flat=True)) == set(stored)
    assert announced == [[results[0].vote.pk, results[6].vote.pk]]  # once for the batch, after the commit


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_whatever_its_size(participant, echo_models):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(count: int) -> int:
        ballots = [services.Ballot(battle_id=ready_battle(participant, echo_models).pk, participant_id=participant.pk,
                                   **VALID) for _ in range(count)]
        with CaptureQueriesContext(connection) as captured:
            results = services.cast_votes(ballots=ballots)
        assert all(result.vote is not None for result in results)
        return len(captured)

    assert queries(2) == queries(20)


@pytest.mark.django_db
def test_a_gone_account_votes_nothing(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    participant.user.is_active = False
    participant.user.save()
    (result,) = services.cast_votes(ballots=[services.Ballot(battle_id=battle.pk, participant_id=participant.pk,
                                                             **VALID)])
    assert result.error.code == "account_gone" and not Vote.objects.exists()
