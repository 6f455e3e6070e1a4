"""Voting over HTTP (arena/views/battle.py): CSRF, ownership, state checks, reveal after the vote."""
from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from arena.models import Battle, Vote
from tests.arena.conftest import make_participant
from tests.arena.factories import VALID, logged_in, ready_battle


@pytest.mark.django_db
def test_vote_is_stored_once_and_reveals_models(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    client = logged_in(participant)
    url = reverse("arena:vote", args=[battle.pk])
    response = client.post(url, {"content": "B", "language": "tie", "overall": "both_bad"})
    assert response.status_code == 200
    reveal = response.json()["reveal"]
    assert reveal["A"]["name"] == battle.model_a.public_name and reveal["B"]["name"] == battle.model_b.public_name
    vote = Vote.objects.get()
    assert (vote.content, vote.language, vote.overall) == ("B", "tie", "both_bad")
    assert vote.basque_level == "C1-C2" and vote.education == "university"
    battle.refresh_from_db()
    assert battle.status == Battle.Status.VOTED
    again = client.post(url, VALID)
    assert again.status_code == 409 and again.json()["error"] == "already_voted"
    assert Vote.objects.count() == 1


@pytest.mark.django_db
def test_battle_page_never_shows_identities(participant, echo_models):
    ready_battle(participant, echo_models)
    html = logged_in(participant).get(reverse("arena:battle")).content.decode()
    for model in echo_models:
        for secret in (model.public_name, model.served_name, model.endpoint_url):
            assert secret not in html


@pytest.mark.django_db
def test_vote_requires_csrf_token(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    client = logged_in(participant, csrf=True)
    response = client.post(reverse("arena:vote", args=[battle.pk]), VALID)
    assert response.status_code == 403
    assert not Vote.objects.exists()
    page = client.get(reverse("arena:battle"))
    token = page.cookies["csrftoken"].value
    response = client.post(reverse("arena:vote", args=[battle.pk]), VALID, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [
    {}, {"content": "A", "language": "A"}, {"content": "A", "language": "A", "overall": "C"},
    {"content": "both_bad", "language": "A", "overall": "A"}, {"content": "A", "language": "", "overall": "A"},
])
def test_invalid_votes_are_refused_and_change_nothing(participant, echo_models, payload):
    battle = ready_battle(participant, echo_models)
    response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), payload)
    assert response.status_code == 400 and response.json()["error"] == "invalid_vote"
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY and not Vote.objects.exists()


@pytest.mark.django_db
def test_cannot_vote_someone_elses_battle(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    intruder = make_participant("mikel")
    response = logged_in(intruder).post(reverse("arena:vote", args=[battle.pk]), VALID)
    assert response.status_code == 403 and response.json()["error"] == "not_yours"
    assert "Latxa" not in response.content.decode()
    assert not Vote.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Battle.Status.FAILED, Battle.Status.ANSWERING, Battle.Status.ABANDONED, Battle.Status.OPEN])
def test_only_ready_battles_can_be_voted(participant, echo_models, status):
    battle = ready_battle(participant, echo_models, status=status)
    response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID)
    assert response.status_code == 409 and response.json()["error"] == "not_ready"
    assert "Latxa" not in response.content.decode()
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_unknown_battle_and_anonymous_voter(participant, echo_models):
    response = logged_in(participant).post(reverse("arena:vote", args=[uuid.uuid4()]), VALID)
    assert response.status_code == 404
    battle = ready_battle(participant, echo_models)
    response = Client().post(reverse("arena:vote", args=[battle.pk]), VALID)
    assert response.status_code == 403 and not Vote.objects.exists()


@pytest.mark.django_db
def test_vote_response_is_the_first_place_identities_appear(participant, echo_models):
    """The reveal JSON carries public names; nothing before it in the flow did (see consumer test)."""
    battle = ready_battle(participant, echo_models)
    response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID)
    body = json.dumps(response.json())
    assert battle.model_a.public_name in body
    assert battle.model_a.endpoint_url not in body  # the endpoint is never revealed, even after


@pytest.mark.django_db
def test_a_stored_vote_queues_its_quality_checks_once_committed(participant, echo_models, fresh_ranking_cache,
                                                                django_capture_on_commit_callbacks):
    from arena import ranking

    echo_models[0].identity_terms = "Alfa"
    echo_models[0].save()
    battle = ready_battle(participant, echo_models)
    battle.messages.filter(side="A").update(content="Ni Alfa naiz, eta euskaraz erantzuten dut beti.")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID)
    assert len(callbacks) == 1 and not Vote.objects.get().excluded  # nothing ran before the commit
    callbacks[0]()  # the commit: Celery (eager here) runs the checks, then the leaderboard refresh
    vote = Vote.objects.get()
    assert vote.excluded and set(vote.exclusion_reasons) == {"identity_leak", "too_short"}
    board = ranking.get_leaderboard(ranking.VoteFilters())
    assert board.excluded_total == 1 and board.excluded_by_reason == {"identity_leak": 1, "too_short": 1}
