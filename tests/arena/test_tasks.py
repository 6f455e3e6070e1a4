"""Celery tasks (arena/tasks.py), run eagerly here: checks with the current fit, then one throttled refresh."""
from __future__ import annotations

import pytest

from arena import ranking, tasks
from arena.ranking.counts import VoteFilters
from tests.arena.factories import add_answers, add_votes, make_models

LONG = "Euskara hizkuntza zaharra da eta oso ederra; milaka urte ditu."


@pytest.fixture(autouse=True)
def fresh_cache(fresh_ranking_cache, settings):
    settings.ARENA = {**settings.ARENA, "LEADERBOARD_REFRESH_SECONDS": 60, "LEADERBOARD_BOOTSTRAP_ROUNDS": 50}


@pytest.fixture
def queued(monkeypatch) -> list[str]:
    """Refreshes queued by the tasks module, recorded instead of run."""
    calls: list[str] = []

    class Recorder:
        def delay(self):
            calls.append("refresh")

    monkeypatch.setattr(tasks, "refresh_leaderboard", Recorder())
    return calls


@pytest.mark.django_db
def test_process_vote_flags_the_vote_and_the_refresh_publishes_it():
    m1, m2 = make_models(2)
    vote = add_votes([(m1, m2, "A", "A", "A")])[0]
    add_answers(vote.battle, LONG, "Bai.")
    ranking.get_leaderboard(VoteFilters())  # a board cached before the vote was flagged
    assert tasks.process_vote(vote.pk) == ["too_short"]
    board = ranking.get_leaderboard(VoteFilters())
    assert board.excluded_by_reason == {"too_short": 1} and board.total_votes == 0  # refreshed (eagerly)


@pytest.mark.django_db
def test_stored_votes_are_checked_in_batches(queued):
    """One check_new_votes task checks every vote stored since the last batch; while one is queued,
    storing another vote queues nothing more (a task per vote cost more than the vote itself)."""
    from django.core.cache import cache

    from arena.models import Vote

    m1, m2 = make_models(2)
    votes = add_votes([(m1, m2, "A", "A", "A")] * 3)
    for vote in votes:
        add_answers(vote.battle, LONG, "Ez." if vote is votes[1] else LONG)
    assert Vote.objects.filter(checked_at__isnull=True).count() == 3
    cache.add(tasks.CHECKS_QUEUED_KEY, 0, timeout=60)  # a batch is queued (and not run yet)
    for vote in votes:
        tasks.vote_stored(vote.pk)  # eager Celery: a queued task would run right here
    assert Vote.objects.filter(checked_at__isnull=True).count() == 3  # nothing more was queued
    assert tasks.check_new_votes() == 3  # the queued batch runs: all three, with one fit
    assert Vote.objects.filter(checked_at__isnull=True).count() == 0
    assert Vote.objects.get(pk=votes[1].pk).exclusion_reasons == ["too_short"]
    assert cache.get(tasks.CHECKS_QUEUED_KEY) is None  # the next vote queues the next batch
    later = add_votes([(m1, m2, "B", "B", "B")])[0]
    add_answers(later.battle, LONG, LONG)
    tasks.vote_stored(later.pk)  # runs eagerly now
    assert Vote.objects.get(pk=later.pk).checked_at is not None
    assert queued == ["refresh"]  # the refresh throttle: one for all of it


@pytest.mark.django_db
def test_changes_queue_at_most_one_refresh_per_interval(queued):
    assert tasks.votes_changed() is True
    assert tasks.votes_changed() is False  # within the interval: the first refresh will see it all
    assert tasks.queue_refresh_if_due() is False
    assert queued == ["refresh"]


@pytest.mark.django_db
def test_recheck_votes_checks_all_votes_by_default(queued):
    m1, m2 = make_models(2)
    votes = add_votes([(m1, m2, "A", "A", "A")] * 3)
    for vote in votes:
        add_answers(vote.battle, LONG, LONG if vote is not votes[1] else "Ez.")
    assert tasks.recheck_votes() == 3
    assert [sorted(vote.__class__.objects.get(pk=vote.pk).exclusion_reasons) for vote in votes] == [
        [], ["too_short"], []]
    assert queued == ["refresh"]


@pytest.mark.django_db
def test_votes_whose_check_was_lost_are_checked_by_the_catch_up_task():
    """A vote stored while the broker was down never got its check queued: beat's task runs it later."""
    import datetime as dt

    from django.utils import timezone

    from arena.models import Vote
    from arena.tasks import check_pending_votes

    alpha, beta = make_models(2)
    lost, recent = add_votes([(alpha, beta, "A", "A", "A"), (beta, alpha, "B", "B", "B")])
    Vote.objects.filter(pk=lost.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    assert check_pending_votes() == 1  # the recent one may still have its check in flight
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.checked_at is not None and recent.checked_at is None
    assert check_pending_votes() == 0


@pytest.mark.django_db
def test_one_check_batch_runs_at_a_time_and_the_running_one_queues_the_votes_it_left(queued):
    """Two batches at once took the same unchecked votes, did the work twice and deadlocked on the
    rows both wrote (bench/vote_ingest.py with 2 Celery processes). Now a batch that finds another
    running does nothing, and the running one queues the next batch for what arrived meanwhile."""
    from django.core.cache import cache

    from arena.models import Vote

    m1, m2 = make_models(2)
    first = add_votes([(m1, m2, "A", "A", "A")] * 2)
    cache.add(tasks.CHECKS_RUNNING_KEY, 1, timeout=60)  # a batch is running in another worker
    assert tasks.check_new_votes() == 0 and tasks.check_pending_votes() == 0
    assert Vote.objects.filter(checked_at__isnull=True).count() == 2
    cache.delete(tasks.CHECKS_RUNNING_KEY)

    arrived = []

    def vote_during_the_batch(vote_ids):  # a vote stored while this batch runs; its own task finds it running
        if not arrived:
            arrived.append(add_votes([(m2, m1, "B", "B", "B")])[0])
            assert tasks.check_new_votes() == 0
        return real_campaign_broadcast(vote_ids=vote_ids)

    from arena.services import campaigns as campaign_services
    real_campaign_broadcast = campaign_services.broadcast_progress
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(campaign_services, "broadcast_progress", lambda *, vote_ids: vote_during_the_batch(vote_ids))
        assert tasks.check_new_votes() == 2  # then, eagerly, the batch it queued: the vote that arrived
    assert not Vote.objects.filter(checked_at__isnull=True).exists()
    assert Vote.objects.get(pk=arrived[0].pk).checked_at is not None
    assert cache.get(tasks.CHECKS_RUNNING_KEY) is None
