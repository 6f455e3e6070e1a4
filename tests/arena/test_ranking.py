"""Bradley–Terry leaderboard: correctness against an independent fit, intervals, edge cases, filters."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from django.utils import timezone
from scipy import optimize, stats

from arena import ranking
from arena.ranking import bt
from arena.ranking.counts import VoteFilters, count_votes
from tests.arena.test_ranking_data import add_votes, make_models, make_voter, synthetic_rows

PRIOR = 0.01


def independent_logistic_fit(a: np.ndarray, b: np.ndarray, outcome_a: list[str], n: int) -> np.ndarray:
    """Plain maximum likelihood, one row per vote: P(a beats b) = σ(θa − θb), a tie is y = ½.

    Written from scratch with scipy.optimize (no choix, no count matrix); θ_0 is pinned to 0 for
    identifiability and the result is put on the leaderboard's scale (centred, 1000 + 400·θ/ln 10).
    """
    y = np.array([{"A": 1.0, "tie": 0.5, "B": 0.0}[o] for o in outcome_a])

    def loss_and_grad(free):
        theta = np.concatenate([[0.0], free])
        z = theta[a] - theta[b]
        loss = np.sum(np.logaddexp(0, z) - y * z)
        residual = 1.0 / (1.0 + np.exp(-z)) - y
        grad = np.zeros(n)
        np.add.at(grad, a, residual)
        np.add.at(grad, b, -residual)
        return loss, grad[1:]

    result = optimize.minimize(loss_and_grad, np.zeros(n - 1), jac=True, method="L-BFGS-B",
                               options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10_000})
    theta = np.concatenate([[0.0], result.x])
    return 1000 + 400 / math.log(10) * (theta - theta.mean())


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


@pytest.fixture(autouse=True)
def fresh_cache(fresh_ranking_cache):
    """The leaderboard cache is per process; each test starts from an empty one."""


# ------------------------------------------------------------------------- pure maths

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
    from tests.arena.test_ranking_data import bt_outcomes

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


# ------------------------------------------------------------------------- from the database

@pytest.mark.django_db
def test_leaderboard_from_10k_database_votes_recovers_the_truth():
    rng = np.random.default_rng(20)
    models = make_models(20)
    truth = rng.normal(0, 1.0, 20)
    rows, a, b, overall = synthetic_rows(models, truth, 10_000, rng)
    add_votes(rows)
    board = ranking.build_leaderboard(VoteFilters(), rounds=200)
    overall_board = board.boards["overall"]
    assert overall_board.total_votes == 10_000 and board.total_votes == 10_000
    by_id = {score.model_id: score.rating for score in overall_board.scores}
    ours = np.array([by_id[m.pk] for m in models])
    assert np.abs(ours - independent_logistic_fit(a, b, overall, 20)).max() < 0.5
    assert stats.spearmanr(ours, truth).statistic >= 0.95
    for name in ranking.DIMENSIONS:
        scores = board.boards[name].scores
        assert [s.rating for s in scores] == sorted((s.rating for s in scores), reverse=True)
        for score in scores:
            for key, (lo, hi) in score.intervals.items():
                assert lo < score.rating < hi, (name, key)
            assert score.intervals[("bootstrap", 0.95)][1] - score.intervals[("bootstrap", 0.95)][0] > \
                score.intervals[("bootstrap", 0.90)][1] - score.intervals[("bootstrap", 0.90)][0]
            assert 1 <= score.ranks[("bootstrap", 0.9)] <= 20
        assert sum(s.votes for s in scores) == 2 * 10_000


@pytest.mark.django_db
def test_counts_follow_sides_ties_and_both_bad_setting():
    m1, m2, m3 = make_models(3)
    add_votes([
        (m1, m2, "A", "B", "A"),  # m1 beats m2 on content and overall, loses on language
        (m2, m1, "A", "tie", "B"),  # content: m2 beats m1; overall: m1 beats m2 (from side B)
        (m2, m3, "tie", "tie", "both_bad"),
    ])
    counted = count_votes(VoteFilters())
    overall = counted.dimensions["overall"]
    assert overall.model_ids == [m1.pk, m2.pk, m3.pk]
    # pairs in order (m1, m2), (m1, m3), (m2, m3); columns: i wins, tie, j wins
    assert overall.counts.tolist() == [[2, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert count_votes(VoteFilters()).dimensions["content"].counts.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    strict = count_votes(VoteFilters(), both_bad_as_tie=False).dimensions["overall"]
    assert strict.model_ids == [m1.pk, m2.pk] and strict.dropped_both_bad == 1


@pytest.mark.django_db
def test_filters_select_votes_by_group_date_and_flag():
    m1, m2 = make_models(2)
    learner = make_voter(basque_level="A1-A2", education="secondary")
    native = make_voter(basque_level="native", education="postgraduate")
    old = timezone.make_aware(dt.datetime(2026, 1, 10, 12, 0))
    add_votes([(m1, m2, "A", "A", "A")] * 3, participant=learner, when=old)
    add_votes([(m1, m2, "B", "B", "B")] * 2, participant=native)
    add_votes([(m1, m2, "B", "B", "B")] * 4, participant=native, excluded=True, reasons=["identity_leak", "too_short"])
    add_votes([(m1, m2, "B", "B", "B")], participant=native, excluded=True, reasons=["daily_cap"])

    def total(**filters):
        return count_votes(VoteFilters(**filters)).dimensions["overall"].total

    assert total() == 5
    assert total(include_flagged=True) == 10
    assert total(basque_level="A1-A2") == 3
    assert total(education="postgraduate") == 2
    assert total(date_to=dt.date(2026, 1, 10)) == 3
    assert total(date_from=dt.date(2026, 1, 11)) == 2
    assert total(date_from=dt.date(2026, 1, 10), date_to=dt.date(2026, 1, 10), basque_level="native") == 0
    counted = count_votes(VoteFilters())
    assert counted.excluded_total == 5
    assert counted.excluded_by_reason == {"identity_leak": 4, "too_short": 4, "daily_cap": 1}
    assert count_votes(VoteFilters(basque_level="A1-A2")).excluded_total == 0


# ------------------------------------------------------------------------- edge cases

@pytest.mark.django_db
def test_empty_data_gives_a_no_votes_warning_not_an_error():
    make_models(3)
    board = ranking.build_leaderboard(VoteFilters(), rounds=50)
    for name in ranking.DIMENSIONS:
        assert board.boards[name].scores == [] and board.boards[name].warnings == ["no_votes"]


@pytest.mark.django_db
def test_one_vote_gives_finite_flagged_scores_with_wide_intervals():
    m1, m2 = make_models(2)
    add_votes([(m1, m2, "A", "A", "A")])
    overall = ranking.build_leaderboard(VoteFilters(), rounds=100).boards["overall"]
    winner, loser = overall.scores
    assert winner.model_id == m1.pk and "few_votes" in overall.warnings
    assert math.isfinite(winner.rating) and math.isfinite(loser.rating) and winner.rating > loser.rating
    assert winner.flags == ["no_losses"] and loser.flags == ["no_wins"]
    assert winner.win_rate == 1.0 and loser.win_rate == 0.0
    lo, hi = winner.intervals[("sandwich", 0.9)]
    assert hi - lo > 100


@pytest.mark.django_db
def test_all_ties_give_equal_scores_and_a_warning():
    models = make_models(4)
    add_votes([(models[k], models[(k + 1) % 4], "tie", "tie", "tie") for k in range(4)] * 5)
    overall = ranking.build_leaderboard(VoteFilters(), rounds=100).boards["overall"]
    assert "all_ties" in overall.warnings
    assert all(abs(s.rating - 1000.0) < 1e-6 for s in overall.scores)
    assert all(s.flags == [] for s in overall.scores)
    assert all(s.win_rate == 0.5 for s in overall.scores)


@pytest.mark.django_db
def test_disconnected_comparison_graph_is_flagged():
    m1, m2, m3, m4 = make_models(4)
    add_votes([(m1, m2, "A", "A", "A"), (m2, m1, "A", "A", "A")] * 5 + [(m3, m4, "B", "B", "B"), (m3, m4, "A", "A", "A")] * 5)
    overall = ranking.build_leaderboard(VoteFilters(), rounds=100).boards["overall"]
    assert overall.components == 2 and "disconnected" in overall.warnings
    assert all("disconnected" in s.flags for s in overall.scores)
    assert all(math.isfinite(s.rating) for s in overall.scores)


# ------------------------------------------------------------------------- caching and refresh

@pytest.mark.django_db
def test_cached_board_is_reused_until_a_throttled_refresh_publishes_a_new_one(settings):
    settings.ARENA = {**settings.ARENA, "LEADERBOARD_REFRESH_SECONDS": 60, "LEADERBOARD_BOOTSTRAP_ROUNDS": 50}
    m1, m2 = make_models(2)
    add_votes([(m1, m2, "A", "A", "A")] * 3)
    first = ranking.get_leaderboard(VoteFilters())
    assert first.compute_ms > 0
    add_votes([(m1, m2, "B", "B", "B")] * 3)
    assert ranking.get_leaderboard(VoteFilters()).total_votes == 3  # cached: the new votes are not seen yet

    ranking.mark_stale()  # new votes: refresh runs (eagerly) and takes the throttle for 60 s
    refreshed = ranking.get_leaderboard(VoteFilters())
    assert refreshed.total_votes == 6
    assert ranking.sampling_state()["pairs"] == {(m1.pk, m2.pk): 6}

    add_votes([(m1, m2, "B", "B", "B")] * 2)
    ranking.mark_stale()  # throttled: no second refresh within the interval
    assert ranking.get_leaderboard(VoteFilters()).total_votes == 6
    assert ranking.maybe_schedule_refresh() is False

    from django.core.cache import cache

    from arena.ranking.cache import THROTTLE_KEY

    cache.delete(THROTTLE_KEY)  # the interval has passed: the next page view catches up
    assert ranking.maybe_schedule_refresh() is True
    assert ranking.get_leaderboard(VoteFilters()).total_votes == 8
    assert ranking.maybe_schedule_refresh() is False  # nothing dirty any more
