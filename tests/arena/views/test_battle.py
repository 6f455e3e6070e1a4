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


@pytest.mark.django_db
def test_a_retried_vote_is_answered_again_and_stored_once(participant, echo_models):
    """The answer to a stored vote can be lost on the way (a phone changing networks): the retry gets it."""
    battle = ready_battle(participant, echo_models)
    client = logged_in(participant)
    url = reverse("arena:vote", args=[battle.pk])
    first = client.post(url, VALID)
    again = client.post(url, VALID)
    assert first.status_code == again.status_code == 200
    assert again.json()["reveal"] == first.json()["reveal"]
    assert Vote.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_vote_cut_by_a_dropped_database_connection_is_refused_cleanly_and_the_retry_stores_it_once(
        participant, echo_models):
    """PostgreSQL drops the connection of a vote in flight (the server's own ASGI stack, its own
    connection): the volunteer gets a clear, retryable answer, nothing is half-written, the retry
    stores the vote once."""
    import threading
    import time

    import httpx
    import psycopg
    from django.db import connection

    from models_serving.vllm_process import free_port
    from tests.arena.conftest import session_cookie
    from tests.support.live_asgi import LiveASGIServer

    if connection.vendor != "postgresql":
        pytest.skip("terminates one of its own PostgreSQL connections")
    battle = ready_battle(participant, echo_models)
    db = connection.settings_dict
    dsn = dict(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])
    server = LiveASGIServer(free_port()).start()
    try:
        browser = httpx.Client(base_url=server.url, timeout=30)
        browser.headers["Cookie"] = session_cookie(participant.user)
        browser.get("/battle/")
        headers = {"X-CSRFToken": browser.cookies["csrftoken"], "Cookie": f"{session_cookie(participant.user)}; "
                   f"csrftoken={browser.cookies['csrftoken']}"}
        url = f"/battle/{battle.pk}/vote/"
        answers = []
        with psycopg.connect(**dsn) as blocker, psycopg.connect(**dsn, autocommit=True) as admin:
            # Hold the battle's row so the vote waits inside its transaction, then drop its connection there.
            blocker.execute("SELECT 1 FROM arena_battle WHERE id = %s FOR UPDATE", [battle.pk])
            voter = threading.Thread(target=lambda: answers.append(browser.post(url, data=VALID, headers=headers)))
            voter.start()
            waiting = None
            for _ in range(200):
                waiting = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'").fetchone()
                if waiting:
                    break
                time.sleep(0.05)
            assert waiting, "the vote never reached its row lock"
            admin.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
            voter.join(timeout=30)
            blocker.rollback()
        refused = answers[0]
        assert refused.status_code == 503 and refused.json()["error"] == "retry", refused.text[:300]
        assert not Vote.objects.exists()
        battle.refresh_from_db()
        assert battle.status == Battle.Status.READY  # nothing half-written
        stored = browser.post(url, data=VALID, headers=headers)
        assert stored.status_code == 200 and Vote.objects.count() == 1
    finally:
        server.stop()
