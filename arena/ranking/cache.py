"""Cached leaderboards and the throttle on refreshing them after new votes.

Every cached board is keyed by a *generation* token plus its filters. A refresh computes the
default board, then swaps in a new generation, which makes every older entry (any filters)
unreachable at once. New votes mark the data dirty (``mark_stale``); ``claim_refresh`` says
whether a refresh is due: dirty, and none claimed in the last ``LEADERBOARD_REFRESH_SECONDS`` (a
``cache.add`` lock). Whoever claims it queues the refresh (``arena.tasks``: this package never
imports the tasks), and the next vote or page view after the window catches up on what arrived meanwhile.
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
    return settings.ARENA["LEADERBOARD_REFRESH_SECONDS"]


def _generation() -> str:
    token = cache.get(GENERATION_KEY)
    if token is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
        token = cache.get(GENERATION_KEY)
    return token


def _key(generation: str, filters: VoteFilters, both_bad_as_tie: bool) -> str:
    knobs = ranking_settings()
    raw = "|".join(str(part) for part in (
        filters.cache_token(), both_bad_as_tie, knobs["rounds"], knobs["seed"], knobs["prior"], knobs["prior_sd"],
        knobs["min_votes"], knobs["style_rounds"]))
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
        # Neighbours on the board and the votes still needed to tell them apart (0: apart; None: too close).
        "neighbours": list(overall.neighbours),
    }
    ids = [s.model_id for s in overall.scores]
    for a, row in enumerate(overall.battle_counts):
        for b, games in enumerate(row):
            if a < b and games:
                state["pairs"][(min(ids[a], ids[b]), max(ids[a], ids[b]))] = games
    cache.set(SAMPLING_STATE_KEY, state, None)


def sampling_state() -> dict | None:
    return cache.get(SAMPLING_STATE_KEY)


def current_strengths(both_bad_as_tie: bool = True) -> dict[int, float]:
    """Model id -> natural-log BT strength of the overall dimension, as the last refresh cached it
    (computed and published now if there is none yet)."""
    state = sampling_state()
    if state is None:
        refresh_leaderboard(both_bad_as_tie)
        state = sampling_state() or {"theta": {}}
    return state["theta"]


def mark_stale() -> None:
    """New or re-flagged votes: the published board is out of date."""
    cache.set(DIRTY_KEY, True, None)


def claim_refresh() -> bool:
    """True when the data is dirty and no refresh was claimed within the refresh interval; the caller
    then queues one (and only it: the claim holds for the interval)."""
    if not cache.get(DIRTY_KEY):
        return False
    return cache.add(THROTTLE_KEY, True, refresh_interval())
