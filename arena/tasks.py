"""Celery tasks: vote quality checks and the throttled leaderboard refresh.

Without a broker (the default) Celery runs these eagerly, in the request that queued them.
"""
from __future__ import annotations

from celery import shared_task

from arena import quality, ranking
from arena.models import ArenaConfig


@shared_task(name="arena.process_vote")
def process_vote(vote_id: int) -> list[str]:
    """After a vote is stored: flag it (and its judge) if needed, then ask for a fresh leaderboard."""
    reasons = quality.check_vote(vote_id)
    ranking.mark_stale()
    return reasons


@shared_task(name="arena.refresh_leaderboard")
def refresh_leaderboard() -> float:
    """Recompute and publish the default leaderboard; returns the computation time in ms."""
    board = ranking.refresh_leaderboard(ArenaConfig.current().both_bad_as_tie)
    return board.compute_ms


@shared_task(name="arena.recheck_votes")
def recheck_votes(vote_ids: list[int] | None = None) -> int:
    """Re-run the quality checks on these votes (all votes when None), e.g. after a threshold change."""
    from arena.models import Vote

    ids = vote_ids if vote_ids is not None else list(Vote.objects.values_list("pk", flat=True))
    checked = quality.recheck_votes(ids)
    ranking.mark_stale()
    return checked
