"""Coverage of the leaderboard's 90 % intervals at 10, 100 and 1,000 votes per model (issue #12).

Simulates arenas with known scores, fits them exactly as the board does (``arena.ranking.board``:
Gaussian prior, posterior intervals for preliminary models, bootstrap / sandwich / posterior
otherwise), and counts how often each model's interval holds its true centred score. True scores
are drawn afresh per data set from N(0, ``--truth-sd`` points²). Also checks the style-controlled
fit (``arena.ranking.style_fit``) the same way. No database; statistics, not timing.

    python bench/interval_coverage.py                 # 8 models, 200 data sets per size
    python bench/interval_coverage.py --sims 50 --rounds 200
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")


def simulate_counts(rng, theta: np.ndarray, votes: int) -> np.ndarray:
    from arena.ranking import bt

    n = len(theta)
    i, j = bt.pair_index(n)
    pair = rng.integers(0, len(i), votes)
    p = 1 / (1 + np.exp(-(theta[i[pair]] - theta[j[pair]])))
    tie = 0.6 * np.minimum(p, 1 - p)
    u = rng.random(votes)
    outcome = np.where(u < tie, 1, np.where(u < tie + p - tie / 2, 0, 2))
    counts = np.zeros((len(i), 3))
    np.add.at(counts, (pair, outcome), 1)
    return counts


def board_coverage(args, per_model: int) -> dict[str, float]:
    from arena.ranking import board, bt

    rng = np.random.default_rng(args.seed + per_model)
    n, hits, width = args.models, {}, {}
    votes = per_model * n // 2  # each vote counts for two models
    ridge = board.ridge_for(args.prior_sd)
    for sim in range(args.sims):
        theta = rng.normal(0, args.truth_sd / bt.ELO_SCALE, n)
        theta -= theta.mean()
        counts = simulate_counts(rng, theta, votes)
        point = bt.fit_point(counts, n, args.pseudo, ridge)
        played = np.zeros(n)
        i, j = bt.pair_index(n)
        np.add.at(played, i, counts.sum(axis=1))
        np.add.at(played, j, counts.sum(axis=1))
        intervals = board._intervals(point, counts, n, args.pseudo, ridge, args.rounds, sim, played < args.min_votes)
        truth = bt.to_ratings(theta)
        for (method, level), (lo, hi) in intervals.items():
            if level != 0.90:
                continue
            hits[method] = hits.get(method, 0) + int(np.sum((lo <= truth) & (truth <= hi)))
            width[method] = width.get(method, 0.0) + float(np.sum(hi - lo))
    total = args.sims * n
    return {method: (hits[method] / total, width[method] / total) for method in hits}


def style_coverage(args, votes: int) -> dict[str, float]:
    from arena.ranking import style_fit

    rng = np.random.default_rng(args.seed)
    n, hits, total = args.models, 0, 0
    for _ in range(args.sims):
        theta = rng.normal(0, args.truth_sd / (400 / np.log(10)), n)
        theta -= theta.mean()
        beta = np.array([0.45, -0.25, 0.3, 0.15])
        a = rng.integers(0, n, votes)
        b = (a + rng.integers(1, n, votes)) % n
        X = np.column_stack([rng.normal(0, 1, (votes, 3)), np.ones(votes)])
        p = 1 / (1 + np.exp(-(theta[a] - theta[b] + X @ beta)))
        tie = 0.6 * np.minimum(p, 1 - p)
        u = rng.random(votes)
        y = np.where(u < tie, 0.5, np.where(u < tie + p - tie / 2, 1.0, 0.0))
        fitted = style_fit.fit_with_sandwich(a, b, y, X, n, ridge_theta=1e-3, ridge_beta=1e-3)
        params = np.concatenate([fitted.theta, fitted.beta])
        se = np.sqrt(np.diag(fitted.cov))
        hits += int(np.sum(np.abs(params - np.concatenate([theta, beta])) <= 1.6448536 * se))
        total += len(params)
    return {"sandwich (scores + coefficients)": hits / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200, help="bootstrap rounds per data set")
    parser.add_argument("--truth-sd", type=float, default=150.0, help="sd of the true scores, rating points")
    parser.add_argument("--prior-sd", type=float, default=300.0)
    parser.add_argument("--pseudo", type=float, default=0.01)
    parser.add_argument("--min-votes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    import django

    django.setup()
    print(f"{args.models} models, true scores ~ N(0, {args.truth_sd:.0f}²), prior sd {args.prior_sd:.0f}, "
          f"preliminary below {args.min_votes} votes, {args.sims} data sets per size; nominal 90 %")
    for per_model in (10, 100, 1000):
        result = board_coverage(args, per_model)
        cells = ", ".join(f"{m} {cov:.1%} (mean width {w:.0f})" for m, (cov, w) in sorted(result.items()))
        print(f"  {per_model:>5} votes per model: {cells}")
    for votes in (300, 3000):
        print(f"  style-controlled, {votes} votes: {style_coverage(args, votes)}")


if __name__ == "__main__":
    main()
