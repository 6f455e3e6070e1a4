"""How many more votes separate neighbours (arena/ranking/separation.py), checked by simulation."""
from __future__ import annotations

import numpy as np

from arena.ranking import bt, separation

PRIOR = 0.01


def test_estimate_matches_what_that_many_more_votes_actually_do():
    n = 4
    i, j = bt.pair_index(n)
    counts = np.full((len(i), 3), 10.0)  # 30 votes per pair, even: models nearly equal...
    counts[0] = (16, 6, 8)  # ...but model 0 leads model 1
    theta = bt.fit_point(counts, n, PRIOR)
    cov = bt.analytic_covariances(theta, counts, n, PRIOR)["fisher"]
    needed = separation.votes_to_separate(theta, cov, 0, 1, 1.645)
    assert needed is not None and needed > 0
    # Add that many votes on the pair, won as the current fit expects (so the gap stays): the
    # difference's interval just clears 0.
    p = 1 / (1 + np.exp(-(theta[0] - theta[1])))
    share = np.array([p, 0.0, 1 - p])
    for extra, apart in ((int(needed * 1.1), True), (int(needed * 0.9), False)):
        more = counts.copy()
        more[0] += extra * share
        theta2 = bt.fit_point(more, n, PRIOR)
        cov2 = bt.analytic_covariances(theta2, more, n, PRIOR)["fisher"]
        sd_gap = np.sqrt(cov2[0, 0] + cov2[1, 1] - 2 * cov2[0, 1])
        assert (theta2[0] - theta2[1] > 1.645 * sd_gap) == apart, extra


def test_already_apart_is_zero_and_equal_models_are_never_apart():
    theta = np.array([1.0, -1.0])
    cov = np.diag([0.01, 0.01])
    assert separation.votes_to_separate(theta, cov, 0, 1, 1.645) == 0
    assert separation.votes_to_separate(np.zeros(2), np.diag([0.5, 0.5]), 0, 1, 1.645) is None
    gaps = separation.neighbour_gaps(np.array([0.5, 0.0, -0.5]), np.eye(3) * 0.2, [0, 1, 2], 1.645)
    assert [(u, l) for u, l, _ in gaps] == [(0, 1), (1, 2)] and all(v > 0 for _, _, v in gaps)
