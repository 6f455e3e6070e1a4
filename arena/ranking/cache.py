"""Cached leaderboards and the throttled refresh after new votes.

Every cached board is keyed by a *generation* token plus its filters. A refresh computes the
default board, then swaps in a new generation, which makes every older entry (any filters)
unreachable at once. New votes mark the data dirty; a refresh is queued only when no other was
queued in the last ``LEADERBOARD_REFRESH_SECONDS`` (a ``cache.add`` lock), and the next vote or page
view after that window catches up on whatever arrived meanwhile.
"""
from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.core.cache import cache

from arena.ranking import bt
from arena.ranking.board import Leaderboard, build_leaderboard, ranking_settings
from arena.ranking.counts import VoteFilters

GENERATION_KEY = "arena:leaderboard:generation"
DIRTY_KEY = "arena:leaderboard:dirty"
THROTTLE_KEY = "arena:leaderboard:throttle"
SAMPLING_STATE_KEY = "arena:sampling:state"
ENTRY_TIMEOUT = 24 * 3600


def refresh_interval() -> int:
    return int(getattr(settings, "ARENA", {}).get("LEADERBOARD_REFRESH_SECONDS", 30))


def _generation() -> str:
    token = cache.get(GENERATION_KEY)
    if token is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
        token = cache.get(GENERATION_KEY)
    return token


def _key(generation: str, filters: VoteFilters, both_bad_as_tie: bool) -> str:
    knobs = ranking_settings()
    raw = f"{filters.cache_token()}|{both_bad_as_tie}|{knobs['rounds']}|{knobs['seed']}|{knobs['prior']}"
    return f"arena:leaderboard:{generation}:{hashlib.sha1(raw.encode()).hexdigest()}"


def get_leaderboard(filters: VoteFilters, both_bad_as_tie: bool = True) -> Leaderboard:
    """The cached board for these filters, computed (and cached) on a miss."""
    key = _key(_generation(), filters, both_bad_as_tie)
    board = cache.get(key)
    if board is None:
        board = build_leaderboard(filters, both_bad_as_tie)
        cache.set(key, board, ENTRY_TIMEOUT)
    return board


def refresh_leaderboard(both_bad_as_tie: bool = True) -> Leaderboard:
    """Recompute the default (public) board, publish it, invalidate all older entries."""
    cache.delete(DIRTY_KEY)
    board = build_leaderboard(VoteFilters(), both_bad_as_tie)
    generation = uuid.uuid4().hex
    cache.set(_key(generation, VoteFilters(), both_bad_as_tie), board, ENTRY_TIMEOUT)
    cache.set(GENERATION_KEY, generation, None)
    store_sampling_state(board)
    return board


def store_sampling_state(board: Leaderboard) -> None:
    """What adaptive pair sampling needs (overall dimension), readable without the database."""
    overall = board.boards["overall"]
    state = {
        "theta": {s.model_id: (s.rating - bt.ELO_BASE) / bt.ELO_SCALE for s in overall.scores},
        "pairs": {},
        "votes": {s.model_id: s.votes for s in overall.scores},
    }
    ids = [s.model_id for s in overall.scores]
    for a, row in enumerate(overall.battle_counts):
        for b, games in enumerate(row):
            if a < b and games:
                state["pairs"][(min(ids[a], ids[b]), max(ids[a], ids[b]))] = games
    cache.set(SAMPLING_STATE_KEY, state, None)


def sampling_state() -> dict | None:
    return cache.get(SAMPLING_STATE_KEY)


def mark_stale() -> None:
    """New or re-flagged votes: the published board is out of date."""
    cache.set(DIRTY_KEY, True, None)
    maybe_schedule_refresh()


def maybe_schedule_refresh() -> bool:
    """Queue a refresh if the data is dirty and none was queued within the refresh interval."""
    if not cache.get(DIRTY_KEY):
        return False
    if not cache.add(THROTTLE_KEY, True, refresh_interval()):
        return False
    from arena.tasks import refresh_leaderboard as refresh_task

    refresh_task.delay()
    return True
