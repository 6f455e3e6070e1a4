"""Celery tasks: vote quality checks, the throttled leaderboard refresh, and big research exports.

Thin: each task hands the current fit to the quality checks and tells the ranking its data
changed. Dependencies point one way: tasks -> quality, ranking (neither imports this module);
callers (the vote view, the admin, the leaderboard page) queue tasks from here.
Without a broker (the default) Celery runs these eagerly, in the request that queued them.
"""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from arena import quality, ranking, selectors, services
from arena.models import ArenaConfig, Vote

PENDING_CHECK_GRACE = timedelta(minutes=1)  # a queued check normally runs within seconds
PENDING_CHECK_BATCH = 5000


@shared_task(name="arena.process_vote")
def process_vote(vote_id: int) -> list[str]:
    """After a vote is stored: flag it (and its judge) if needed, then ask for a fresh leaderboard."""
    config = ArenaConfig.current()
    reasons = quality.check_vote(vote_id, config=config, theta=ranking.current_strengths(config.both_bad_as_tie))
    votes_changed()
    return reasons


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
    ids = selectors.unchecked_vote_ids(older_than=PENDING_CHECK_GRACE, limit=PENDING_CHECK_BATCH)
    return recheck_votes(ids) if ids else 0


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
