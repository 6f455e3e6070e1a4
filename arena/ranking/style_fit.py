"""Bradley–Terry with covariates (style control, as lmarena does it): pure numpy, no Django.

One row per vote: ``logit P(A beats B) = θ_a − θ_b + xᵀβ``, where ``x`` holds the vote's covariates
(style-feature differences between side A and side B, and a constant 1 for "A was shown on the left",
whose coefficient is the position bias). A tie counts y = ½. Both blocks get a Gaussian prior
(``ridge_theta``, ``ridge_beta``: precisions); with FastChat's values (0.5/ln²10 and 0.5) the fit is
the same as its ``compute_style_control``.

Newton's method on the concave log-posterior, with the Hessian built from aggregates: the θθ block
from per-pair sums of weights (one bincount), the θβ block from per-model sums (2·k bincounts), the
ββ block as XᵀWX. Each iteration is O(N·k²) for N votes and k covariates, with no N×(n+k) design
matrix. Intervals: the sandwich (H⁻¹ M H⁻¹, M the score outer products: robust to ties) and a refit
bootstrap with Poisson(1) vote weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class StyleFit:
    theta: np.ndarray  # (n,) centred strengths
    beta: np.ndarray  # (k,) covariate coefficients, logit units per unit of covariate
    cov: np.ndarray  # (n + k, n + k) sandwich covariance; θ block centred
    hessian: np.ndarray  # posterior precision at the fit (information + prior)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _blocks(a, b, XT, weight, n):
    """Σ weight·x̃x̃ᵀ for x̃ = (e_a − e_b, x): the (n + k)² matrix, built from aggregates. ``XT`` is the
    covariates transposed (k, N) and contiguous: each per-model sum reads one contiguous row (with
    X's strided columns those sums took ~2.5× longer, most of a million-vote fit)."""
    k = XT.shape[0]
    pair = np.bincount(a * n + b, weights=weight, minlength=n * n).reshape(n, n)
    pair = pair + pair.T
    out = np.zeros((n + k, n + k))
    out[:n, :n] = np.diag(pair.sum(axis=1)) - pair
    wxt = XT * weight
    cross = np.stack([np.bincount(a, wxt[c], minlength=n) - np.bincount(b, wxt[c], minlength=n)
                      for c in range(k)], axis=1) if k else np.zeros((n, 0))
    out[:n, n:] = cross
    out[n:, :n] = cross.T
    out[n:, n:] = XT @ wxt.T
    return out


def _gradient(a, b, XT, resid, n):
    return np.concatenate([np.bincount(a, resid, minlength=n) - np.bincount(b, resid, minlength=n), XT @ resid])


def fit(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, X: np.ndarray, n: int, *, ridge_theta: float, ridge_beta: float,
    weights: np.ndarray | None = None, start: np.ndarray | None = None, tol: float = 1e-9, max_iter: int = 50,
) -> np.ndarray:
    """Posterior mode (θ, β) as one vector of n + k; ``weights`` repeat votes (the bootstrap's)."""
    return _newton(a, b, y, np.ascontiguousarray(X.T), n, ridge_theta=ridge_theta, ridge_beta=ridge_beta,
                   weights=weights, start=start, tol=tol, max_iter=max_iter)


def _newton(a, b, y, XT, n, *, ridge_theta, ridge_beta, weights=None, start=None, tol=1e-9, max_iter=50):
    """``fit`` on the covariates already transposed (``_blocks``): callers that refit the same votes
    transpose them once."""
    k = XT.shape[0]
    weights = np.ones(len(y)) if weights is None else weights
    prior = np.concatenate([np.full(n, ridge_theta), np.full(k, ridge_beta)])
    params = np.zeros(n + k) if start is None else np.array(start, dtype=float)
    # Only differences of θ are identified without a prior on it: 11ᵀ on the θ block fixes the level.
    level = np.zeros((n + k, n + k))
    if ridge_theta <= 0:
        level[:n, :n] = 1.0
    for _ in range(max_iter):
        prob = _sigmoid(params[a] - params[b] + params[n:] @ XT)
        grad = _gradient(a, b, XT, weights * (y - prob), n) - prior * params
        hess = _blocks(a, b, XT, weights * prob * (1.0 - prob), n) + np.diag(prior)
        step = np.linalg.solve(hess + level, grad)
        biggest = np.abs(step).max()
        params = params + step * min(1.0, 2.0 / max(biggest, 1e-300))  # capped: far starts stay stable
        if biggest < tol:
            break
    params[:n] -= params[:n].mean()
    return params


def fit_with_sandwich(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, X: np.ndarray, n: int, *, ridge_theta: float, ridge_beta: float,
    weights: np.ndarray | None = None, start: np.ndarray | None = None,
) -> StyleFit:
    """The fit and its sandwich covariance H⁻¹ M H⁻¹ (H: information + prior; M: Σ w²(y − p)² x̃x̃ᵀ).
    ``weights``: each vote's weight (below 1 for near-duplicate prompts); the sandwich treats them as
    survey weights. ``start``: a nearby solution (another dimension's on the same votes) saves Newton steps."""
    k = X.shape[1]
    XT = np.ascontiguousarray(X.T)
    weights = np.ones(len(y)) if weights is None else weights
    params = _newton(a, b, y, XT, n, ridge_theta=ridge_theta, ridge_beta=ridge_beta, weights=weights, start=start)
    prob = _sigmoid(params[a] - params[b] + params[n:] @ XT)
    prior = np.concatenate([np.full(n, ridge_theta), np.full(k, ridge_beta)])
    hess = _blocks(a, b, XT, weights * prob * (1.0 - prob), n) + np.diag(prior)
    meat = _blocks(a, b, XT, (weights * (y - prob)) ** 2, n)
    inverse = _inverse(hess, n)
    return StyleFit(theta=params[:n], beta=params[n:], cov=inverse @ meat @ inverse, hessian=hess)


def _inverse(hess: np.ndarray, n: int) -> np.ndarray:
    """Inverse on the subspace where θ sums to zero: the covariance of centred θ and of β."""
    size = hess.shape[0]
    centre = np.eye(size)
    centre[:n, :n] -= 1.0 / n
    return centre @ np.linalg.pinv(centre @ hess @ centre) @ centre


def bootstrap(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, X: np.ndarray, n: int, *, ridge_theta: float, ridge_beta: float,
    start: np.ndarray, rounds: int, seed: int, newton_steps: int = 2, weights: np.ndarray | None = None,
) -> np.ndarray:
    """(rounds, n + k) refits on Poisson(1)-weighted votes (the Poisson bootstrap: the same law as
    resampling votes with replacement as N grows). Each refit starts at the full-data fit, a few
    Newton steps from its own optimum, which lies O(1/√N) away: quadratic convergence makes the
    error after 2 steps O(1/N²), far below the spread being measured)."""
    rng = np.random.default_rng(seed)
    XT = np.ascontiguousarray(X.T)
    out = np.empty((rounds, len(start)))
    for r in range(rounds):
        draw = rng.poisson(1.0, len(y)) * (1.0 if weights is None else weights)
        out[r] = _newton(a, b, y, XT, n, ridge_theta=ridge_theta, ridge_beta=ridge_beta, weights=draw,
                         start=start, max_iter=newton_steps)
    return out
