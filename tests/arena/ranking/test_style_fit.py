"""Bradley–Terry with covariates (arena/ranking/style_fit.py): simulated votes with known scores,
style effects and position bias; the fit recovers them and its 90 % intervals cover ~90 %."""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize

from arena.ranking import style_fit

LN10 = math.log(10.0)


def simulate(rng, n_models: int, votes: int, theta: np.ndarray, beta: np.ndarray):
    """Votes whose E[y] = σ(θa − θb + xᵀβ), x = 3 standardised style differences and a left-side 1."""
    a = rng.integers(0, n_models, votes)
    b = (a + rng.integers(1, n_models, votes)) % n_models
    X = np.column_stack([rng.normal(0, 1, (votes, len(beta) - 1)), np.ones(votes)])
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + X @ beta)))
    tie = 0.6 * np.minimum(p, 1 - p)  # ties likelier between close answers; E[win + ½ tie] = p
    u = rng.random(votes)
    y = np.where(u < tie, 0.5, np.where(u < tie + p - tie / 2, 1.0, 0.0))
    return a, b, y, X


def truth(rng, n_models):
    theta = rng.normal(0, 0.8, n_models)
    return theta - theta.mean(), np.array([0.45, -0.25, 0.3, 0.15])  # 3 style effects, position bias


def test_fit_recovers_the_true_scores_and_effects():
    rng = np.random.default_rng(7)
    theta, beta = truth(rng, 8)
    a, b, y, X = simulate(rng, 8, 40_000, theta, beta)
    fitted = style_fit.fit_with_sandwich(a, b, y, X, 8, ridge_theta=1e-3, ridge_beta=1e-3)
    se = np.sqrt(np.diag(fitted.cov))
    assert np.all(np.abs(fitted.theta - theta) < 4 * se[:8])
    assert np.all(np.abs(fitted.beta - beta) < 4 * se[8:])
    assert np.abs(fitted.beta - beta).max() < 0.05 and np.abs(fitted.theta - theta).max() < 0.08


def test_sandwich_and_bootstrap_intervals_cover_about_90_percent():
    rng = np.random.default_rng(2026)
    n = 6
    hits = {"sandwich": 0, "bootstrap": 0}
    checked = {"sandwich": 0, "bootstrap": 0}
    for sim in range(120):
        theta, beta = truth(rng, n)
        a, b, y, X = simulate(rng, n, 1500, theta, beta)
        target = np.concatenate([theta, beta])
        fitted = style_fit.fit_with_sandwich(a, b, y, X, n, ridge_theta=1e-3, ridge_beta=1e-3)
        params = np.concatenate([fitted.theta, fitted.beta])
        se = np.sqrt(np.diag(fitted.cov))
        hits["sandwich"] += np.sum(np.abs(params - target) <= 1.6448536 * se)
        checked["sandwich"] += len(params)
        if sim < 40:  # the refit bootstrap is slower: fewer data sets
            draws = style_fit.bootstrap(a, b, y, X, n, ridge_theta=1e-3, ridge_beta=1e-3, start=params,
                                        rounds=150, seed=sim)
            draws[:, :n] -= draws[:, :n].mean(axis=1, keepdims=True)
            lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
            hits["bootstrap"] += np.sum((lo <= target) & (target <= hi))
            checked["bootstrap"] += len(params)
    for method in hits:
        coverage = hits[method] / checked[method]
        assert 0.85 <= coverage <= 0.95, (method, coverage)


def fastchat_style_fit(a, b, y, X, n, reg=0.5):
    """FastChat's published method (compute_style_control), written here from its description: L-BFGS
    on the per-vote log loss in log10 units, with an L2 penalty reg/2·‖params‖² on every parameter."""
    def loss_and_grad(params):
        r, beta = params[:n], params[n:]
        logits = LN10 * (r[a] - r[b]) + X @ beta
        p = 1 / (1 + np.exp(-logits))
        loss = -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)) + reg / 2 * params @ params
        err = y - p
        grad = reg * params
        grad[:n] -= LN10 * (np.bincount(a, err, minlength=n) - np.bincount(b, err, minlength=n))
        grad[n:] -= X.T @ err
        return loss, grad

    result = minimize(loss_and_grad, np.zeros(n + X.shape[1]), jac=True, method="L-BFGS-B",
                      options={"maxiter": 1000, "gtol": 1e-10})
    return 400 * result.x[:n] + 1000, result.x[n:]


def test_same_features_and_regularisation_give_fastchats_scores_within_half_a_point():
    rng = np.random.default_rng(3)
    theta, beta = truth(rng, 10)
    a, b, y, X = simulate(rng, 10, 20_000, theta, beta)
    theirs, their_beta = fastchat_style_fit(a, b, y, X[:, :-1], 10)  # FastChat has no position covariate
    ours = style_fit.fit(a, b, y, X[:, :-1], 10, ridge_theta=0.5 / LN10**2, ridge_beta=0.5)
    ratings = 1000 + 400 / LN10 * ours[:10]
    assert np.abs(ratings - theirs).max() < 0.5
    assert np.abs(ours[10:] - their_beta).max() < 1e-3


def test_votes_weighted_a_half_twice_fit_like_each_vote_once():
    """Near-duplicate prompts are down-weighted (Vote.weight): two copies at ½ weigh as one vote."""
    rng = np.random.default_rng(11)
    theta, beta = truth(rng, 5)
    a, b, y, X = simulate(rng, 5, 3000, theta, beta)
    once = style_fit.fit_with_sandwich(a, b, y, X, 5, ridge_theta=0.1, ridge_beta=0.1)
    twice = style_fit.fit_with_sandwich(np.tile(a, 2), np.tile(b, 2), np.tile(y, 2), np.tile(X, (2, 1)), 5,
                                        ridge_theta=0.1, ridge_beta=0.1, weights=np.full(6000, 0.5))
    assert np.allclose(once.theta, twice.theta) and np.allclose(once.beta, twice.beta)
