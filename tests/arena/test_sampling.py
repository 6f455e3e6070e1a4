"""Pair sampling: eligibility, sides, uniform vs adaptive, the new-model boost, and a small simulation."""
from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.cache import cache

from arena import sampling
from arena.ranking import bt
from arena.ranking import cache as ranking_cache


def model(pk, weight=1.0, active=True, health="healthy"):
    return SimpleNamespace(pk=pk, arena_weight=weight, is_active=active, health=health)


def config(mode="adaptive", boosted=None, factor=3.0):
    return SimpleNamespace(sampling_mode=mode, boosted_model_id=boosted, boost_factor=factor)


@pytest.fixture(autouse=True)
def no_state():
    cache.delete(ranking_cache.SAMPLING_STATE_KEY)
    yield
    cache.delete(ranking_cache.SAMPLING_STATE_KEY)


def draws(candidates, cfg, times=2000, seed=1):
    rng = random.Random(seed)
    return [sampling.choose_pair(candidates, cfg, rng) for _ in range(times)]


@pytest.mark.parametrize("mode", ["uniform", "adaptive"])
def test_never_an_unhealthy_inactive_or_zero_weight_model_and_never_the_same_twice(mode):
    cache.set(ranking_cache.SAMPLING_STATE_KEY, {"theta": {1: 0.5, 2: 0.0}, "pairs": {(1, 2): 40}, "votes": {1: 40, 2: 40}})
    pool = [model(1), model(2), model(3, health="unhealthy"), model(4, active=False), model(5, weight=0),
            model(6, health="unknown"), model(1)]  # a duplicate of model 1
    seen = Counter()
    for a, b in draws(pool, config(mode), 1000):
        assert a.pk != b.pk
        seen.update([a.pk, b.pk])
    assert set(seen) == {1, 2, 6}


def test_sides_are_random():
    left = Counter(a.pk for a, _b in draws([model(1), model(2)], config("uniform"), 2000))
    assert 900 < left[1] < 1100


def test_too_few_models_raise():
    with pytest.raises(sampling.NotEnoughModels):
        sampling.choose_pair([model(1), model(2, health="unhealthy")], config())


def test_uniform_draws_every_pair_equally_often():
    pool = [model(k) for k in range(1, 6)]
    pairs = Counter(frozenset((a.pk, b.pk)) for a, b in draws(pool, config("uniform"), 5000))
    assert len(pairs) == 10
    assert all(400 < n < 600 for n in pairs.values())  # 500 expected each


def test_adaptive_without_a_cached_fit_falls_back_to_uniform():
    pool = [model(k) for k in range(1, 5)]
    pairs = Counter(frozenset((a.pk, b.pk)) for a, b in draws(pool, config("adaptive"), 3000))
    assert len(pairs) == 6  # every pair occurs...
    assert all(400 < n < 600 for n in pairs.values())  # ...about equally often (500 expected each)


def test_adaptive_favours_close_pairs_and_models_with_few_votes():
    # Models 1-4 are well measured; 1 and 2 are close, 3 is far above 4. Model 5 is new.
    theta = {1: 0.0, 2: 0.05, 3: 2.0, 4: -2.0}
    pairs = {(a, b): 400 for a in range(1, 5) for b in range(a + 1, 5)}
    cache.set(ranking_cache.SAMPLING_STATE_KEY, {"theta": theta, "pairs": pairs, "votes": {k: 1200 for k in theta}})
    pool = [model(k) for k in range(1, 6)]
    drawn = Counter(frozenset((a.pk, b.pk)) for a, b in draws(pool, config("adaptive"), 3000))
    with_new = sum(n for pair, n in drawn.items() if 5 in pair)
    assert with_new > 0.6 * 3000  # uniform would give 40%
    assert len(drawn) == 10  # the uniform share keeps every pair alive
    established = Counter(frozenset((a.pk, b.pk)) for a, b in draws(pool[:4], config("adaptive"), 3000))
    # The lopsided pair (p ≈ 0.02) teaches least; the extreme models are best measured against the
    # middle ones, and the close pair (1, 2) still gets about twice the lopsided pair's share.
    assert min(established, key=established.get) == frozenset((3, 4))
    assert established[frozenset((1, 2))] > 1.4 * established[frozenset((3, 4))]


def test_boost_draws_the_boosted_model_more_until_it_has_enough_votes(settings):
    settings.ARENA = {**settings.ARENA, "BOOST_UNTIL_VOTES": 100}
    pool = [model(k) for k in range(1, 6)]
    boosted = sum(1 for a, b in draws(pool, config("uniform", boosted=3, factor=3.0)) if 3 in (a.pk, b.pk))
    plain = sum(1 for a, b in draws(pool, config("uniform")) if 3 in (a.pk, b.pk))
    assert boosted > 1.4 * plain  # pair weight 3 vs 1: 12/18 of the mass instead of 4/10
    cache.set(ranking_cache.SAMPLING_STATE_KEY, {"theta": {}, "pairs": {}, "votes": {3: 150}})
    after = sum(1 for a, b in draws(pool, config("uniform", boosted=3, factor=3.0)) if 3 in (a.pk, b.pk))
    assert abs(after - plain) < 120


def test_adaptive_sampling_needs_30_percent_fewer_votes_when_new_models_join():
    """Small version of bench/sampling_sim.py (newcomers scenario, 10 models)."""
    rng = np.random.default_rng(4)
    n, incumbents, history, budget = 10, 7, 6000, 2000
    truth = rng.normal(0, 150 / bt.ELO_SCALE, n)
    i, j = bt.pair_index(n)

    def play(pair, counts):
        p = 1 / (1 + np.exp(-(truth[i[pair]] - truth[j[pair]])))
        tie = 0.6 * np.minimum(p, 1 - p)
        u = rng.random(len(pair))
        np.add.at(counts, (pair, np.where(u < tie, 1, np.where(u < tie + p - tie / 2, 0, 2))), 1)

    def mean_width(counts):
        theta = bt.fit_point(counts, n, 0.01)
        cov = bt.analytic_covariances(theta, counts, n, 0.01)["sandwich"]
        return (2 * 1.645 * bt.ELO_SCALE * np.sqrt(np.diag(cov))).mean()

    past = np.zeros((len(i), 3))
    old = np.flatnonzero((i < incumbents) & (j < incumbents))
    play(old[rng.integers(0, len(old), history)], past)

    uniform = past.copy()
    play(rng.integers(0, len(i), budget), uniform)
    target = mean_width(uniform)

    adaptive, used = past.copy(), 0
    while mean_width(adaptive) > target and used < budget:
        theta = bt.fit_point(adaptive, n, 0.01)
        games = np.zeros((n, n))
        games[i, j] = games[j, i] = adaptive.sum(axis=1)
        _i, _j, probs = sampling.adaptive_pair_weights(theta, games, np.ones(n))
        play(rng.choice(len(i), size=50, p=probs / probs.sum()), adaptive)
        used += 50
    assert used <= 0.7 * budget, used


def test_adaptive_aims_at_the_neighbours_the_board_cannot_tell_apart_yet():
    # Four well-measured models; the board says 1 and 2 are still unresolved, 3 and 4 already apart,
    # and 2 and 3 too close to ever tell apart (None): only the unresolved pair gets the extra mass.
    theta = {1: 0.3, 2: 0.2, 3: 0.0, 4: -0.5}
    pairs = {(a, b): 300 for a in range(1, 5) for b in range(a + 1, 5)}
    state = {"theta": theta, "pairs": pairs, "votes": {k: 900 for k in theta}}
    pool = [model(k) for k in range(1, 5)]
    cache.set(ranking_cache.SAMPLING_STATE_KEY, state)
    before = Counter(frozenset((a.pk, b.pk)) for a, b in draws(pool, config("adaptive"), 3000))
    cache.set(ranking_cache.SAMPLING_STATE_KEY, {**state, "neighbours": [(1, 2, 240), (2, 3, None), (3, 4, 0)]})
    after = Counter(frozenset((a.pk, b.pk)) for a, b in draws(pool, config("adaptive"), 3000))
    assert after[frozenset((1, 2))] > before[frozenset((1, 2))] + 800  # about half of all draws now
    assert after[frozenset((1, 2))] > 0.45 * 3000
    assert after[frozenset((2, 3))] <= before[frozenset((2, 3))] + 60 and after[frozenset((3, 4))] < before[frozenset((3, 4))] + 60
