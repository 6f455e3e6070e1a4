"""Vote processing through a real Celery worker on the configured broker (Redis in CI, memory locally)."""
from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from arena.celery import app
from arena.models import Battle, Message, Vote
from arena import services
from tests.arena.conftest import make_participant, register_model

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_vote_quality_check_runs_on_a_worker(settings):
    app.conf.task_always_eager = False
    leaky = register_model("Latxa-Leaky", "echo-leaky", "http://127.0.0.1:9/v1", identity_terms="Latxa\nHiTZ")
    other = register_model("Beste-Bat", "echo-other", "http://127.0.0.1:9/v1")
    participant = make_participant()
    battle = Battle.objects.create(participant=participant, model_a=leaky, model_b=other, status=Battle.Status.READY)
    Message.objects.create(battle=battle, turn=0, role="user", content="Nor zara zu?")
    Message.objects.create(battle=battle, turn=0, role="assistant", side="A",
                           content="Ni Latxa naiz, HiTZ zentroak garatutako eredu bat, eta euskaraz ari naiz.")
    Message.objects.create(battle=battle, turn=0, role="assistant", side="B",
                           content="Kaixo! Euskarazko laguntzaile bat naiz, zer behar duzu gaur?")
    with start_worker(app, perform_ping_check=False, pool="solo", concurrency=1, shutdown_timeout=30):
        vote = services.cast_vote(battle.pk, participant, content="A", language="A", overall="A")
        from arena.tasks import process_vote

        # cast_vote queued process_vote on commit; wait for the worker through the result of a second call.
        result = process_vote.delay(vote.pk)
        assert result.get(timeout=60) == ["identity_leak"]
    vote = Vote.objects.get()
    assert vote.excluded and vote.exclusion_reasons == ["identity_leak"]
