"""Celery tasks: vote quality checks, the throttled leaderboard refresh, and big research exports.

Thin: each task hands the current fit to the quality checks and tells the ranking its data
changed. Dependencies point one way: tasks -> quality, ranking (neither imports this module);
callers (the vote view, the admin, the leaderboard page) queue tasks from here.
Without a broker (the default) Celery runs these eagerly, in the request that queued them.
"""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.core.cache import cache

from arena import quality, ranking, selectors, services
from arena.services import campaigns as campaign_services
from arena.services import labels as label_services
from arena.services import styles as style_services
from arena.models import ArenaConfig, Vote

PENDING_CHECK_GRACE = timedelta(minutes=1)  # a queued check normally runs within seconds
PENDING_CHECK_BATCH = 5000
CHECKS_QUEUED_KEY = "arena:vote-checks-queued"
# A batch queued but never run (its worker died) stops blocking the next one after this many seconds.
CHECKS_QUEUED_TTL = 60
# One check batch at a time: two would both take the votes not marked checked yet, doing the work twice
# and deadlocking on the rows they both write (bench/vote_ingest.py, 2 Celery processes). A worker that
# dies mid-batch stops blocking the next one after this many seconds.
CHECKS_RUNNING_KEY = "arena:vote-checks-running"
CHECKS_RUNNING_TTL = 15 * 60


def vote_stored(vote_id: int) -> None:
    """A vote was committed (the vote view's ``after_commit``): its quality check runs in the next batch.

    One ``check_new_votes`` task checks every vote stored since the last one, with one fit: a task per
    vote cost more than the vote itself (bench/vote_ingest.py, docs/load.md). The flag is cleared when
    a batch starts, so a vote committed meanwhile queues the next batch; if the cache is down no task is
    queued and the beat's ``check_pending_votes`` catches the vote up a minute later."""
    if cache.add(CHECKS_QUEUED_KEY, vote_id, timeout=CHECKS_QUEUED_TTL):
        check_new_votes.delay()


@shared_task(name="arena.check_new_votes")
def check_new_votes() -> int:
    """Check every vote not checked yet (a batch queued by ``vote_stored``); returns how many. While
    another batch runs this one does nothing: that batch queues the next when it ends."""
    return _exclusively(timedelta(0))


def _exclusively(older_than: timedelta) -> int:
    if not cache.add(CHECKS_RUNNING_KEY, 1, timeout=CHECKS_RUNNING_TTL):
        return 0
    try:
        cache.delete(CHECKS_QUEUED_KEY)  # votes committed from now on queue the next batch
        checked = _after_votes(selectors.unchecked_vote_ids(older_than=older_than, limit=PENDING_CHECK_BATCH))
    finally:
        cache.delete(CHECKS_RUNNING_KEY)
    # Votes stored meanwhile (more than a batch, or ones whose task found this batch running): the next
    # batch, queued now that this one no longer blocks it.
    if selectors.unchecked_vote_ids(older_than=older_than, limit=1):
        cache.set(CHECKS_QUEUED_KEY, 0, timeout=CHECKS_QUEUED_TTL)
        check_new_votes.delay()
    return checked


def _after_votes(vote_ids: list[int]) -> int:
    """What follows new votes, in batches: their answers' style features and prompts' labels (for the
    style-controlled and filtered boards), then the quality checks, which ask for a fresh board."""
    if not vote_ids:
        return 0
    battle_ids = list(Vote.objects.filter(pk__in=vote_ids).values_list("battle_id", flat=True))
    style_services.store_answer_styles(battle_ids=battle_ids)
    label_services.relabel_battles(battle_ids=battle_ids)
    checked = recheck_votes(vote_ids)
    campaign_services.broadcast_progress(vote_ids=vote_ids)  # once checked: the count is of valid votes
    return checked


@shared_task(name="arena.process_vote")
def process_vote(vote_id: int) -> list[str]:
    """After a vote is stored: flag it (and its judge) if needed, then ask for a fresh leaderboard."""
    _after_votes([vote_id])  # what a batch does, for this one vote
    return list(Vote.objects.values_list("exclusion_reasons", flat=True).get(pk=vote_id))


@shared_task(name="arena.relabel_prompts")
def relabel_prompts() -> int:
    """Label every voted prompt again with the current category rules (the admin's action)."""
    count = label_services.relabel_battles()
    label_services.reweight_duplicates()
    votes_changed()
    return count


@shared_task(name="arena.reweight_duplicates")
def reweight_duplicates() -> dict:
    """Cap near-duplicate prompts' weight in the leaderboard (schedule it in beat, e.g. hourly)."""
    report = label_services.reweight_duplicates()
    votes_changed()
    return {"clusters": report.clusters, "prompts": report.prompts, "capped_votes": report.capped_votes}


@shared_task(name="arena.refresh_leaderboard")
def refresh_leaderboard() -> float:
    """Recompute and publish the default leaderboard; returns the computation time in ms."""
    board = ranking.refresh_leaderboard(ArenaConfig.current().both_bad_as_tie)
    return board.compute_ms


@shared_task(name="arena.recheck_votes")
def recheck_votes(vote_ids: list[int] | None = None) -> int:
    """Re-run the quality checks on these votes (all votes when None), e.g. after a threshold change."""
    config = ArenaConfig.current()
    ids = vote_ids if vote_ids is not None else list(Vote.objects.values_list("pk", flat=True))
    checked = quality.recheck_votes(ids, config=config, theta=ranking.current_strengths(config.both_bad_as_tie))
    votes_changed()
    return checked


@shared_task(name="arena.check_pending_votes")
def check_pending_votes() -> int:
    """Beat: check the votes whose check was never run (queued while the broker was down), once they
    are older than a check in flight could be. Returns how many were checked."""
    return _exclusively(PENDING_CHECK_GRACE)


@shared_task(name="arena.fail_stale_exports")
def fail_stale_exports() -> int:
    """Beat: exports whose worker died are failed (the researcher can ask again)."""
    return services.fail_stale_exports()


@shared_task(name="arena.run_export")
def run_export(job_id: str) -> str:
    """Build a Researchers-page export too big for the request (services.run_export_job); its final status."""
    job = services.run_export_job(job_id=job_id)
    return job.status if job is not None else "missing"


def votes_changed() -> bool:
    """Votes were added or (un)flagged: the board is stale; queue a refresh unless one was queued
    within the refresh interval. True when one was queued."""
    ranking.mark_stale()
    return queue_refresh_if_due()


def queue_refresh_if_due() -> bool:
    """Queue a refresh when the data is dirty and the throttle allows one (also called by page views,
    to catch up on votes that arrived while refreshes were throttled)."""
    if not ranking.claim_refresh():
        return False
    refresh_leaderboard.delay()
    return True
