"""Bradley–Terry maths (arena/ranking/bt.py): the fit against choix and an independent fit, ranks, intervals."""
from __future__ import annotations

import numpy as np
from scipy import stats

from arena.ranking import bt
from tests.arena.factories import bt_outcomes, independent_logistic_fit

PRIOR = 0.01


def counts_from_votes(a, b, outcome_a, n) -> np.ndarray:
    i, j = bt.pair_index(n)
    pair_of = {(x, y): p for p, (x, y) in enumerate(zip(i, j))}
    counts = np.zeros((len(i), 3))
    for x, y, o in zip(a, b, outcome_a):
        col = {"A": 0, "tie": 1, "B": 2}[o]
        if x < y:
            counts[pair_of[(x, y)], col] += 1
        else:
            counts[pair_of[(y, x)], 2 - col] += 1
    return counts


def test_batched_newton_fit_matches_choix_point_estimate():
    rng = np.random.default_rng(3)
    n = 12
    i, j = bt.pair_index(n)
    counts = rng.poisson(4.0, size=(len(i), 3)).astype(float)
    counts[rng.random(len(i)) < 0.3] = 0  # sparse graph, some pairs never met
    counts[i == 0, 2] = 0  # model 0 never loses...
    counts[j == 0, 0] = 0
    counts[(i == 0) | (j == 0), 1] = 0  # ...nor ties: only the prior keeps it finite
    point = bt.fit_point(counts, n, PRIOR)
    batched = bt.fit_batched(np.stack([counts, counts * 2]), n, PRIOR)
    assert np.all(np.isfinite(point))
    assert np.abs(bt.to_ratings(batched[0]) - bt.to_ratings(point)).max() < 1e-6
    # Doubling every count (not the prior) gives a different, also finite fit.
    assert np.abs(batched[1] - point).max() > 1e-3


def test_fit_matches_independent_logistic_regression_within_half_a_point():
    rng = np.random.default_rng(11)
    n, votes = 20, 10_000
    truth = rng.normal(0, 1.0, n)
    a = rng.integers(0, n, votes)
    b = (a + rng.integers(1, n, votes)) % n
    outcome = bt_outcomes(truth, a, b, rng)
    ours = bt.to_ratings(bt.fit_point(counts_from_votes(a, b, outcome, n), n, PRIOR))
    reference = independent_logistic_fit(a, b, outcome, n)
    assert np.abs(ours - reference).max() < 0.5
    assert stats.spearmanr(ours, truth).statistic >= 0.95


def test_rank_counts_models_whose_interval_is_entirely_above():
    lower = np.array([1100.0, 1050.0, 990.0, 800.0])
    upper = np.array([1200.0, 1120.0, 1060.0, 900.0])
    # Model 1 overlaps model 0; model 2 lies below 0 only; model 3 lies below all three.
    assert list(bt.rank_by_intervals(lower, upper)) == [1, 1, 2, 4]


def test_bootstrap_is_reproducible_and_analytic_intervals_are_consistent():
    rng = np.random.default_rng(5)
    n = 6
    i, j = bt.pair_index(n)
    counts = rng.poisson(40, size=(len(i), 3)).astype(float)
    theta = bt.fit_point(counts, n, PRIOR)
    first = bt.bootstrap_thetas(counts, n, PRIOR, 300, seed=7, start=theta)
    again = bt.bootstrap_thetas(counts, n, PRIOR, 300, seed=7, start=theta)
    other = bt.bootstrap_thetas(counts, n, PRIOR, 300, seed=8, start=theta)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    boot_sd = first.std(axis=0)
    cov = bt.analytic_covariances(theta, counts, n, PRIOR)
    sandwich_sd = np.sqrt(np.diag(cov["sandwich"]))
    fisher_sd = np.sqrt(np.diag(cov["fisher"]))
    # Ties (y = ½) vary less than Bernoulli outcomes: the sandwich is narrower than the inverse Fisher
    # information and tracks the bootstrap.
    assert np.all(sandwich_sd < fisher_sd)
    assert np.allclose(boot_sd, sandwich_sd, rtol=0.2)


def test_bootstrap_and_sandwich_intervals_cover_the_truth_at_the_nominal_rate():
    rng = np.random.default_rng(2026)
    n, votes, sims = 6, 1500, 150
    i, j = bt.pair_index(n)
    truth = rng.normal(0, 0.7, n)
    truth -= truth.mean()
    hits = {"bootstrap": 0, "sandwich": 0}
    for sim in range(sims):
        pair = rng.integers(0, len(i), votes)
        p = 1 / (1 + np.exp(-(truth[i[pair]] - truth[j[pair]])))
        # Ties drawn so that E[win + ½ tie] = p: the model the leaderboard fits is the true one.
        tie = 0.6 * np.minimum(p, 1 - p)
        u = rng.random(votes)
        outcome = np.where(u < tie, 1, np.where(u < tie + p - tie / 2, 0, 2))
        counts = np.zeros((len(i), 3))
        np.add.at(counts, (pair, outcome), 1)
        theta = bt.fit_point(counts, n, PRIOR)
        boot = bt.bootstrap_thetas(counts, n, PRIOR, 200, seed=sim, start=theta)
        lower, upper = np.quantile(boot, [0.05, 0.95], axis=0)
        hits["bootstrap"] += np.sum((lower <= truth) & (truth <= upper))
        se = np.sqrt(np.diag(bt.analytic_covariances(theta, counts, n, PRIOR)["sandwich"]))
        hits["sandwich"] += np.sum(np.abs(theta - truth) <= 1.6448536 * se)
    for method, hit in hits.items():
        coverage = hit / (sims * n)
        assert 0.86 <= coverage <= 0.94, (method, coverage)
