"""Vote processing through a real Celery worker on the configured broker (Redis in CI, memory locally).

The vote goes through the HTTP view; the only enqueue is the one ``transaction.on_commit`` performs
when the vote service commits. The test waits for the worker to finish that task (and the refresh it
queues), watching Celery's own signals, and never queues anything itself.
"""
from __future__ import annotations

import threading

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.urls import reverse

from arena import ranking
from arena.models import Battle, Message, Vote
from config.celery import app
from tests.arena.conftest import make_participant, register_model
from tests.arena.factories import VALID, logged_in

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def not_eager():
    """Tasks go through the broker; its queue starts empty (a task an earlier run left there would be
    consumed first) and is emptied again afterwards."""
    previous, app.conf.task_always_eager = app.conf.task_always_eager, False
    app.control.purge()
    yield
    app.control.purge()
    app.conf.task_always_eager = previous


@pytest.fixture
def leaky_battle(fresh_ranking_cache, settings):
    """A votable battle whose side A names its own model: its vote must come out flagged ``identity_leak``."""
    settings.ARENA = {**settings.ARENA, "LEADERBOARD_BOOTSTRAP_ROUNDS": 50}
    leaky = register_model("Latxa-Leaky", "echo-leaky", "http://127.0.0.1:9/v1", identity_terms="Latxa\nHiTZ")
    other = register_model("Beste-Bat", "echo-other", "http://127.0.0.1:9/v1")
    participant = make_participant()
    battle = Battle.objects.create(participant=participant, model_a=leaky, model_b=other, status=Battle.Status.READY)
    Message.objects.create(battle=battle, turn=0, role="user", content="Nor zara zu?")
    Message.objects.create(battle=battle, turn=0, role="assistant", side="A",
                           content="Ni Latxa naiz, HiTZ zentroak garatutako eredu bat, eta euskaraz ari naiz.")
    Message.objects.create(battle=battle, turn=0, role="assistant", side="B",
                           content="Kaixo! Euskarazko laguntzaile bat naiz, zer behar duzu gaur?")
    return participant, battle


def test_a_vote_is_checked_and_the_board_refreshed_on_a_worker(leaky_battle, not_eager):
    participant, battle = leaky_battle
    ran: list[tuple[str, tuple, object]] = []
    refreshed = threading.Event()

    def record(sender=None, args=None, retval=None, **_):
        ran.append((sender.name, tuple(args or ()), retval))
        if sender.name == "arena.refresh_leaderboard":
            refreshed.set()

    task_postrun.connect(record, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", concurrency=1, shutdown_timeout=30):
            response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID)
            assert response.status_code == 200
            assert refreshed.wait(timeout=120), f"the worker ran {ran}, not the refresh"
    finally:
        task_postrun.disconnect(record)
    vote = Vote.objects.get()
    assert ran[0] == ("arena.check_new_votes", (), 1)  # the view's one enqueue: a batch, which held this vote
    assert [name for name, *_ in ran] == ["arena.check_new_votes", "arena.refresh_leaderboard"]
    assert vote.excluded and vote.exclusion_reasons == ["identity_leak"]
    assert ranking.get_leaderboard(ranking.VoteFilters()).excluded_by_reason == {"identity_leak": 1}


def test_votes_are_stored_while_the_worker_is_down_and_checked_when_it_returns(leaky_battle, not_eager):
    participant, battle = leaky_battle
    # No worker runs: the vote is stored and answered; its check waits in the broker's queue.
    response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID)
    assert response.status_code == 200 and "reveal" in response.json()
    vote = Vote.objects.get()
    assert not vote.excluded and vote.checked_at is None
    checked = threading.Event()

    def record(sender=None, **_):
        if sender.name == "arena.refresh_leaderboard":  # queued by the check: nothing is left behind
            checked.set()

    task_postrun.connect(record, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", concurrency=1, shutdown_timeout=30):
            assert checked.wait(timeout=120), "the queued check (and its refresh) never ran once the worker was back"
    finally:
        task_postrun.disconnect(record)
    vote.refresh_from_db()
    assert vote.excluded and vote.exclusion_reasons == ["identity_leak"] and vote.checked_at is not None
