"""Which two models meet in a new battle.

``uniform``: every pair of eligible models equally likely (times their ``arena_weight``), as in the
original study. ``adaptive``: a pair is drawn with probability proportional to how much one more
battle on it is expected to shrink the leaderboard's intervals (the drop in the trace of the
inverse Fisher information, an A-optimal design step). That favours pairs whose outcome is most
uncertain under the current fit (p(1-p) near ¼) and models with few votes (large variance). A
fixed share of draws stays uniform so every pair keeps getting some battles. When the cached board
names neighbours it cannot tell apart yet (``arena.ranking.separation``: "about N more votes"), half
of the adaptive mass goes to exactly those pairs, in proportion to how much one vote shrinks the
variance of their difference, so the board's open questions get settled first.

Never touches the database: it reads the fit that the leaderboard refresh leaves in the cache, so
it is safe to call from async code. Without that fit it samples uniformly.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from django.conf import settings

UNIFORM_SHARE = 0.1  # adaptive mode: this share of the probability mass is spread uniformly
GAIN_POWER = 2.0  # sharpen towards the most informative pairs (tuned in bench/sampling_sim.py)
NEIGHBOUR_SHARE = 0.5  # adaptive mode: share of the focused mass on unresolved neighbour pairs
PRIOR_GAMES = 0.5  # virtual battles per pair so the information matrix is invertible


class NotEnoughModels(Exception):
    """Fewer than two active, healthy models: no battle can start."""


def eligible(candidates: Sequence) -> list:
    """The models a pair may be drawn from: active, not unhealthy, with a positive weight, each once."""
    seen, pool = set(), []
    for model in candidates:
        if model.pk in seen or not getattr(model, "is_active", True):
            continue
        if getattr(model, "health", "") == "unhealthy" or (model.arena_weight or 0) <= 0:
            continue
        seen.add(model.pk)
        pool.append(model)
    return pool


def _boost_until_votes() -> int:
    return settings.ARENA["BOOST_UNTIL_VOTES"]


def model_weights(pool: list, config, state: dict | None) -> np.ndarray:
    """Per-model weights: ``arena_weight``, times the boost while the boosted model is still new."""
    weights = np.array([float(model.arena_weight) for model in pool])
    boosted = getattr(config, "boosted_model_id", None)
    factor = float(getattr(config, "boost_factor", 1.0) or 1.0)
    if boosted and factor > 1.0:
        votes = (state or {}).get("votes", {}).get(boosted, 0)
        if votes < _boost_until_votes():
            weights = np.where([model.pk == boosted for model in pool], weights * factor, weights)
    return weights


def _pair_weights_and_covariance(theta: np.ndarray, games: np.ndarray, i: np.ndarray, j: np.ndarray):
    """Per pair (i, j): w = p(1-p) of one battle; and C, the inverse of the fit's information matrix
    (games so far plus PRIOR_GAMES per pair)."""
    n = len(theta)
    prob = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
    w = prob * (1.0 - prob)
    info = np.zeros((n, n))
    info[i, j] = info[j, i] = -(games[i, j] + PRIOR_GAMES) * w
    info[np.arange(n), np.arange(n)] = -info.sum(axis=1)
    return w, np.linalg.pinv(info)


def information_gain(theta: np.ndarray, games: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every pair (i < j): drop in Σ Var(θ) from one more battle between i and j.

    With C the inverse information and x = e_i - e_j, a battle adds w·xxᵀ (w = p(1-p)) and, by
    Sherman–Morrison, lowers trace(C) by w·‖Cx‖² / (1 + w·xᵀCx).
    """
    i, j = np.triu_indices(len(theta), k=1)
    w, cov = _pair_weights_and_covariance(theta, games, i, j)
    cx = cov[:, i] - cov[:, j]
    x_cov_x = cx[i, np.arange(len(i))] - cx[j, np.arange(len(i))]
    gain = w * (cx**2).sum(axis=0) / (1.0 + w * x_cov_x)
    return i, j, gain


def adaptive_pair_weights(theta: np.ndarray, games: np.ndarray, model_w: np.ndarray,
                          unresolved: list[tuple[int, int]] | None = None):
    """Pair probabilities for adaptive mode (pure numpy; also used by the simulation).

    ``unresolved``: pool-index pairs of board neighbours not yet told apart; they share
    NEIGHBOUR_SHARE of the focused mass, each in proportion to the relative drop in the variance of
    its difference from one more vote, w·v / (1 + w·v)."""
    i, j, gain = information_gain(theta, games)
    base = model_w[i] * model_w[j]
    focused = base * gain**GAIN_POWER
    focused = focused / focused.sum() if focused.sum() > 0 else base / base.sum()
    if unresolved:
        target = _neighbour_weights(theta, games, unresolved, i, j) * base
        if target.sum() > 0:
            focused = (1 - NEIGHBOUR_SHARE) * focused + NEIGHBOUR_SHARE * target / target.sum()
    return i, j, (1 - UNIFORM_SHARE) * focused + UNIFORM_SHARE * base / base.sum()


def _neighbour_weights(theta, games, unresolved, i, j) -> np.ndarray:
    pair_of = {(int(a), int(b)): p for p, (a, b) in enumerate(zip(i, j))}
    w, cov = _pair_weights_and_covariance(theta, games, i, j)
    out = np.zeros(len(i))
    for a, b in unresolved:
        p = pair_of.get((min(a, b), max(a, b)))
        if p is not None:
            variance = cov[a, a] + cov[b, b] - 2 * cov[a, b]
            out[p] = w[p] * variance / (1.0 + w[p] * variance)
    return out


def choose_pair(candidates: Sequence, config=None, rng: random.Random | None = None) -> tuple:
    """Return (model_a, model_b): two different eligible models, left/right at random."""
    rng = rng or random.SystemRandom()
    pool = eligible(candidates)
    if len(pool) < 2:
        raise NotEnoughModels
    mode = getattr(config, "sampling_mode", "uniform")
    needs_state = mode == "adaptive" or getattr(config, "boosted_model_id", None)
    state = _sampling_state() if needs_state else None
    weights = model_weights(pool, config, state)
    if mode == "adaptive" and state is not None:
        theta = np.array([state["theta"].get(model.pk, 0.0) for model in pool])
        games = _games_matrix(pool, state)
        index = {model.pk: k for k, model in enumerate(pool)}
        unresolved = [(index[upper], index[lower]) for upper, lower, needed in state.get("neighbours", ())
                      if needed and upper in index and lower in index]
        i, j, pair_w = adaptive_pair_weights(theta, games, weights, unresolved)
    else:
        i, j = np.triu_indices(len(pool), k=1)
        pair_w = weights[i] * weights[j]
    pick = rng.choices(range(len(i)), weights=pair_w.tolist())[0]
    first, second = pool[i[pick]], pool[j[pick]]
    return (first, second) if rng.random() < 0.5 else (second, first)


def _games_matrix(pool: list, state: dict) -> np.ndarray:
    games = np.zeros((len(pool), len(pool)))
    pairs = state.get("pairs", {})
    for a, model_a in enumerate(pool):
        for b, model_b in enumerate(pool):
            if a < b:
                key = (min(model_a.pk, model_b.pk), max(model_a.pk, model_b.pk))
                games[a, b] = games[b, a] = pairs.get(key, 0)
    return games


def _sampling_state() -> dict | None:
    from arena.ranking.cache import sampling_state

    try:
        return sampling_state()
    except Exception:  # a cache outage must not stop battles; fall back to uniform
        return None
