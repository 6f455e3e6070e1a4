"""Simulation: how many votes adaptive pair sampling needs to match uniform sampling's CI width.

Ground truth: 20 models with fixed BT strengths (Elo-like sd 150), ties up to 30%
between equal models. Two scenarios: a
fresh arena, and 5 new models joining 15 that already hold 20,000 votes. Uniform sampling
collects ``--votes`` further battles; its average 90% CI width (sandwich, checked with the
bootstrap) is the target. Adaptive sampling uses the production code (arena.sampling.adaptive_pair_weights on
the current fit, refitted every ``--refresh`` votes as the cached leaderboard would be) until its
average width reaches the target. Prints the saving per seed and overall.

Scenario ``top5`` (issue #12) measures what the board's "about N more votes to tell A and B apart"
is for: how many votes each strategy needs until the top five's order is certain (the 90 % interval
of each of the five differences between neighbours 1–2, …, 5–6 excludes zero), uniform sampling vs
adaptive sampling aimed at the unresolved neighbour pairs (``arena.ranking.separation`` on the
current fit, as the cached board feeds ``arena.sampling``).

    python bench/sampling_sim.py --votes 10000 --seeds 5
    python bench/sampling_sim.py --scenario top5 --seeds 5
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

import django  # noqa: E402

django.setup()

from arena import sampling  # noqa: E402
from arena.ranking import bt, separation  # noqa: E402

TIE_RATE = 0.3  # tie probability 2·0.3·min(p, 1-p): up to 30% between equals
PRIOR = 0.01
Z90 = 1.6448536269514722


def true_strengths(n: int, rng: np.random.Generator, elo_sd: float = 150.0) -> np.ndarray:
    return rng.normal(0.0, elo_sd / bt.ELO_SCALE, n)


def play(theta: np.ndarray, i: np.ndarray, j: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Outcomes (0 = i wins, 1 = tie, 2 = j wins) of battles between i[k] and j[k]."""
    p_i = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
    tie = 2 * TIE_RATE * np.minimum(p_i, 1 - p_i)  # E[win + ½ tie] = p_i: BT with half ties holds
    u = rng.random(len(i))
    return np.where(u < tie, 1, np.where(u < tie + p_i - tie / 2, 0, 2))


def add_battles(counts: np.ndarray, pair: np.ndarray, outcome: np.ndarray) -> None:
    np.add.at(counts, (pair, outcome), 1)


def mean_width(counts: np.ndarray, n: int, method: str = "sandwich", rounds: int = 0, seed: int = 0) -> float:
    theta = bt.fit_point(counts, n, PRIOR)
    if rounds:
        boot = bt.to_ratings(bt.bootstrap_thetas(counts, n, PRIOR, rounds, seed, start=theta))
        lower, upper = np.quantile(boot, [0.05, 0.95], axis=0)
        return float((upper - lower).mean())
    cov = bt.analytic_covariances(theta, counts, n, PRIOR)[method]
    return float((2 * Z90 * bt.ELO_SCALE * np.sqrt(np.clip(np.diag(cov), 0, None))).mean())


def history_counts(truth: np.ndarray, incumbents: int, votes: int, rng: np.random.Generator) -> np.ndarray:
    """Votes the arena already holds: uniform battles among the first ``incumbents`` models only."""
    n = len(truth)
    i, j = bt.pair_index(n)
    counts = np.zeros((len(i), 3))
    among = np.flatnonzero((i < incumbents) & (j < incumbents))
    if votes and len(among):
        pair = among[rng.integers(0, len(among), votes)]
        add_battles(counts, pair, play(truth, i[pair], j[pair], rng))
    return counts


def uniform_run(truth: np.ndarray, votes: int, rng: np.random.Generator, history: np.ndarray) -> np.ndarray:
    n = len(truth)
    i, j = bt.pair_index(n)
    pair = rng.integers(0, len(i), votes)
    counts = history.copy()
    add_battles(counts, pair, play(truth, i[pair], j[pair], rng))
    return counts


def adaptive_run(truth, target, rng, refresh, max_votes, history):
    """Collect adaptively until the mean width reaches ``target``; returns (votes used, counts)."""
    n = len(truth)
    i, j = bt.pair_index(n)
    counts = history.copy()
    weights = np.ones(n)
    used = 0
    if not counts.any():  # a fresh arena starts with a uniform warm-up so a first fit exists
        warm = min(refresh, max_votes)
        pair = rng.integers(0, len(i), warm)
        add_battles(counts, pair, play(truth, i[pair], j[pair], rng))
        used += warm
    while used < max_votes:
        theta = bt.fit_point(counts, n, PRIOR)
        games = np.zeros((n, n))
        games[i, j] = games[j, i] = counts.sum(axis=1)
        _i, _j, probs = sampling.adaptive_pair_weights(theta, games, weights)
        step = min(refresh, max_votes - used)
        pair = rng.choice(len(i), size=step, p=probs / probs.sum())
        add_battles(counts, pair, play(truth, i[pair], j[pair], rng))
        used += step
        if mean_width(counts, n) <= target:
            break
    return used, counts


def simulate(
    n_models: int, votes: int, seeds: list[int], refresh: int, bootstrap_check: int = 0,
    incumbents: int = 0, history: int = 0, elo_sd: float = 150.0,
) -> list[dict]:
    """Votes are counted after the shared ``history`` (none in a fresh arena)."""
    results = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        truth = true_strengths(n_models, rng, elo_sd)
        past = history_counts(truth, incumbents, history, rng)
        uniform_counts = uniform_run(truth, votes, rng, past)
        target = mean_width(uniform_counts, n_models)
        used, adaptive_counts = adaptive_run(truth, target, rng, refresh, 2 * votes, past)
        row = {
            "seed": seed, "uniform_votes": votes, "uniform_width": target, "adaptive_votes": used,
            "adaptive_width": mean_width(adaptive_counts, n_models), "saving": 1 - used / votes,
        }
        if bootstrap_check:
            row["uniform_width_boot"] = mean_width(uniform_counts, n_models, rounds=bootstrap_check, seed=seed)
            row["adaptive_width_boot"] = mean_width(adaptive_counts, n_models, rounds=bootstrap_check, seed=seed)
        results.append(row)
    return results


def top_order_votes(truth, rng, refresh: int, cap: int, adaptive: bool, top: int = 5) -> tuple[int, bool]:
    """(votes until the order of the ``top`` best, and the gap to the next, is certain at 90 %;
    whether that order is the true one)."""
    n = len(truth)
    i, j = bt.pair_index(n)
    counts = np.zeros((len(i), 3))
    used = 0
    while used < cap:
        if used == 0 or not adaptive:
            pair = rng.integers(0, len(i), refresh)
        else:
            theta = bt.fit_point(counts, n, PRIOR)
            cov = bt.analytic_covariances(theta, counts, n, PRIOR)["fisher"]
            order = list(np.argsort(-theta))
            gaps = separation.neighbour_gaps(theta, cov, order, Z90)
            games = np.zeros((n, n))
            games[i, j] = games[j, i] = counts.sum(axis=1)
            unresolved = [(upper, lower) for upper, lower, needed in gaps if needed]
            _i, _j, probs = sampling.adaptive_pair_weights(theta, games, np.ones(n), unresolved)
            pair = rng.choice(len(i), size=refresh, p=probs / probs.sum())
        add_battles(counts, pair, play(truth, i[pair], j[pair], rng))
        used += refresh
        theta = bt.fit_point(counts, n, PRIOR)
        cov = bt.analytic_covariances(theta, counts, n, PRIOR)["fisher"]
        order = list(np.argsort(-theta))[: top + 1]
        if all(needed == 0 for _u, _l, needed in separation.neighbour_gaps(theta, cov, order, Z90)):
            return used, order == list(np.argsort(-truth))[: top + 1]
    return cap, False


def top5_scenario(n_models: int, seeds: list[int], refresh: int, spacing: float, cap: int) -> None:
    """True scores: the best six ``spacing`` points apart, the rest spread below them."""
    savings = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        top = -np.arange(6) * spacing / bt.ELO_SCALE
        rest = top[-1] - rng.uniform(spacing, 400, n_models - 6) / bt.ELO_SCALE
        truth = rng.permutation(np.concatenate([top, rest]))
        uniform, uniform_right = top_order_votes(truth, np.random.default_rng(seed + 1000), refresh, cap, adaptive=False)
        adaptive, adaptive_right = top_order_votes(truth, np.random.default_rng(seed + 1000), refresh, cap, adaptive=True)
        savings.append(1 - adaptive / uniform)
        print(f"seed {seed}: top-5 order certain after {uniform} votes (uniform) vs {adaptive} (adaptive): "
              f"{100 * savings[-1]:.1f}% fewer{' [uniform hit the cap]' if uniform >= cap else ''}; "
              f"true order: uniform {uniform_right}, adaptive {adaptive_right}")
    print(f"mean saving {100 * np.mean(savings):.1f}% (min {100 * min(savings):.1f}%, max {100 * max(savings):.1f}%), "
          f"{n_models} models, top six {spacing:.0f} points apart")


SCENARIOS = {
    # Every model starts at zero votes.
    "fresh": {"incumbents": 0, "history": 0},
    # The usual life of an arena: 15 models already hold 20,000 votes, 5 new models join.
    "newcomers": {"incumbents": 15, "history": 20_000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--votes", type=int, default=10_000, help="votes collected by uniform sampling")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--elo-sd", type=float, default=150.0, help="spread of true strengths (rating points)")
    parser.add_argument("--refresh", type=int, default=100, help="votes between refits (cache refresh)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for the width check (0: skip)")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "top5", "all"], default="all")
    parser.add_argument("--spacing", type=float, default=40.0, help="top5: points between the best six")
    parser.add_argument("--cap", type=int, default=200_000, help="top5: give up after this many votes")
    args = parser.parse_args()
    if args.scenario in ("top5", "all"):
        print("== scenario top5")
        top5_scenario(args.models, list(range(args.seeds)), args.refresh, args.spacing, args.cap)
        if args.scenario == "top5":
            return
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in names:
        started = time.perf_counter()
        rows = simulate(args.models, args.votes, list(range(args.seeds)), args.refresh, args.bootstrap,
                        elo_sd=args.elo_sd, **SCENARIOS[name])
        print(f"== scenario {name}: {SCENARIOS[name]}")
        for row in rows:
            extra = ""
            if "uniform_width_boot" in row:
                extra = (f"  [bootstrap widths: uniform {row['uniform_width_boot']:.1f}, "
                         f"adaptive {row['adaptive_width_boot']:.1f}]")
            print(
                f"seed {row['seed']}: uniform {row['uniform_votes']} votes -> mean 90% CI width "
                f"{row['uniform_width']:.2f}; adaptive reached {row['adaptive_width']:.2f} after "
                f"{row['adaptive_votes']} votes ({100 * row['saving']:.1f}% fewer){extra}"
            )
        savings = np.array([row["saving"] for row in rows])
        print(f"mean saving {100 * savings.mean():.1f}% (min {100 * savings.min():.1f}%, "
              f"max {100 * savings.max():.1f}%), {args.models} models, {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
