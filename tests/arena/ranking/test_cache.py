"""Cached boards, the refresh throttle and the cached fit (arena/ranking/cache.py)."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from arena import ranking
from arena.ranking.cache import THROTTLE_KEY
from arena.ranking.counts import VoteFilters
from tests.arena.factories import add_votes, make_models


@pytest.fixture(autouse=True)
def fresh_cache(fresh_ranking_cache, settings):
    settings.ARENA = {**settings.ARENA, "LEADERBOARD_REFRESH_SECONDS": 60, "LEADERBOARD_BOOTSTRAP_ROUNDS": 50}


@pytest.mark.django_db
def test_cached_board_is_reused_until_a_refresh_publishes_a_new_one():
    m1, m2 = make_models(2)
    add_votes([(m1, m2, "A", "A", "A")] * 3)
    first = ranking.get_leaderboard(VoteFilters())
    assert first.compute_ms > 0
    add_votes([(m1, m2, "B", "B", "B")] * 3)
    assert ranking.get_leaderboard(VoteFilters()).total_votes == 3  # cached: the new votes are not seen yet
    assert ranking.get_leaderboard(VoteFilters(include_flagged=True)).total_votes == 6  # other filters: own entry

    ranking.refresh_leaderboard()
    assert ranking.get_leaderboard(VoteFilters()).total_votes == 6
    assert ranking.sampling_state()["pairs"] == {(m1.pk, m2.pk): 6}


@pytest.mark.django_db
def test_a_refresh_is_claimed_only_when_dirty_and_once_per_interval():
    assert ranking.claim_refresh() is False  # nothing changed
    ranking.mark_stale()
    assert ranking.claim_refresh() is True  # the caller queues the refresh...
    assert ranking.claim_refresh() is False  # ...and nobody else within the interval
    ranking.refresh_leaderboard()  # the refresh clears the dirty mark
    cache.delete(THROTTLE_KEY)  # the interval has passed
    assert ranking.claim_refresh() is False
    ranking.mark_stale()
    assert ranking.claim_refresh() is True


@pytest.mark.django_db
def test_current_strengths_come_from_the_cached_fit_or_a_fresh_one():
    m1, m2 = make_models(2)
    add_votes([(m1, m2, "A", "A", "A")] * 4 + [(m1, m2, "B", "B", "B")])
    assert ranking.sampling_state() is None
    theta = ranking.current_strengths()  # no fit cached yet: computed and published now
    assert theta[m1.pk] > theta[m2.pk]
    assert ranking.sampling_state()["theta"] == theta
    add_votes([(m1, m2, "B", "B", "B")] * 10)
    assert ranking.current_strengths() == theta  # the cached fit until the next refresh
