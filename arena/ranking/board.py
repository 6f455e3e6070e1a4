"""Assemble a leaderboard (scores, intervals, ranks, matrices, warnings) from vote counts."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.utils import timezone

from arena.ranking import bt, separation
from arena.ranking.counts import DimensionCounts, VoteCounts, VoteFilters, count_votes
from arena.ranking.style_board import StyleBoard, style_boards
from arena.ranking.style_data import StyleRows, load_style_rows
from arena.vocabulary import DIMENSIONS
from models_serving.models import ServedModel

LEVELS = (0.90, 0.95)
_Z = {0.90: 1.6448536269514722, 0.95: 1.959963984540054}


def ranking_settings() -> dict:
    """Leaderboard knobs, declared in ``settings.ARENA``."""
    arena = settings.ARENA
    return {
        "rounds": arena["LEADERBOARD_BOOTSTRAP_ROUNDS"],
        "seed": arena["LEADERBOARD_SEED"],
        "prior": arena["LEADERBOARD_PSEUDO_COUNT"],
        "prior_sd": arena["LEADERBOARD_PRIOR_SD"],
        "min_votes": arena["LEADERBOARD_MIN_VOTES"],
        "style_rounds": arena["LEADERBOARD_STYLE_BOOTSTRAP_ROUNDS"],
    }


def ridge_for(prior_sd: float) -> float:
    """Precision of the Gaussian prior on θ for a prior standard deviation in rating points (0: none)."""
    return (bt.ELO_SCALE / prior_sd) ** 2 if prior_sd > 0 else 0.0


@dataclass
class ModelScore:
    model_id: int
    name: str
    rating: float
    votes: int
    wins: float
    ties: float
    losses: float
    # (method, level) -> (lower, upper) and the matching rank-by-interval.
    intervals: dict[tuple[str, float], tuple[float, float]] = field(default_factory=dict)
    ranks: dict[tuple[str, float], int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  # "no_losses", "no_wins", "disconnected"
    # Fewer votes than LEADERBOARD_MIN_VOTES: shown apart, unranked, with the posterior interval.
    preliminary: bool = False

    @property
    def win_rate(self) -> float:
        """Share of this model's battles it won, a tie counting half."""
        return (self.wins + 0.5 * self.ties) / self.votes if self.votes else 0.0


@dataclass
class DimensionBoard:
    dimension: str
    scores: list[ModelScore]  # best rating first
    total_votes: int
    battle_counts: list[list[int]]  # same model order as ``scores``
    win_rates: list[list[float | None]]  # row model's wins (+½ ties) / battles against column model
    components: int = 1
    dropped_both_bad: int = 0
    warnings: list[str] = field(default_factory=list)  # "no_votes", "single_model", "few_votes", "all_ties", "disconnected"
    # Listed neighbours (upper model id, lower model id, further votes to tell them apart at 90 %, None: not in sight).
    neighbours: list[tuple[int, int, int | None]] = field(default_factory=list)


@dataclass
class Leaderboard:
    boards: dict[str, DimensionBoard]
    filters: VoteFilters
    both_bad_as_tie: bool
    rounds: int
    seed: int
    prior: float
    excluded_total: int
    excluded_by_reason: dict[str, int]
    computed_at: object
    compute_ms: float = 0.0
    prior_sd: float = 0.0
    min_votes: int = 0
    latest_vote_at: object = None  # newest vote the board counted (the page says when it lags)
    capped_votes: int = 0  # votes on near-duplicate prompts, down-weighted to capped_weight votes in all
    capped_weight: float = 0.0
    style: dict[str, StyleBoard] = field(default_factory=dict)  # style-controlled, per dimension
    style_rounds: int = 0

    @property
    def total_votes(self) -> int:
        return max((board.total_votes for board in self.boards.values()), default=0)


FEW_VOTES = 30  # below this the page warns that intervals are very wide


def build_leaderboard(filters: VoteFilters, both_bad_as_tie: bool = True, **overrides) -> Leaderboard:
    """Count votes in SQL, then fit and bootstrap each dimension. A read: writes nothing."""
    knobs = {**ranking_settings(), **overrides}
    started = time.perf_counter()
    counted = count_votes(filters, both_bad_as_tie=both_bad_as_tie)
    board = leaderboard_from_counts(counted, filters, both_bad_as_tie, style_rows=load_style_rows(filters), **knobs)
    board.compute_ms = (time.perf_counter() - started) * 1000.0
    return board


def leaderboard_from_counts(
    counted: VoteCounts, filters: VoteFilters, both_bad_as_tie: bool, *, rounds: int, seed: int, prior: float,
    prior_sd: float = 0.0, min_votes: int = 0, style_rows: StyleRows | None = None, style_rounds: int = 0,
) -> Leaderboard:
    model_ids = sorted({mid for dim in counted.dimensions.values() for mid in dim.model_ids})
    names = dict(ServedModel.objects.filter(pk__in=model_ids).values_list("pk", "public_name"))
    boards = {
        name: score_dimension(name, counted.dimensions[name], names, rounds=rounds, seed=seed + k, prior=prior,
                              prior_sd=prior_sd, min_votes=min_votes)
        for k, name in enumerate(DIMENSIONS)
    }
    style = {} if style_rows is None else style_boards(
        style_rows, boards, names, both_bad_as_tie=both_bad_as_tie, ridge_theta=ridge_for(prior_sd),
        rounds=style_rounds, seed=seed, min_votes=min_votes)
    return Leaderboard(
        boards=boards, filters=filters, both_bad_as_tie=both_bad_as_tie, rounds=rounds, seed=seed, prior=prior,
        excluded_total=counted.excluded_total, excluded_by_reason=counted.excluded_by_reason,
        computed_at=timezone.now(), prior_sd=prior_sd, min_votes=min_votes, latest_vote_at=counted.latest_vote_at,
        style=style, style_rounds=style_rounds, capped_votes=counted.capped_votes, capped_weight=counted.capped_weight,
    )


def score_dimension(
    dimension: str, dim: DimensionCounts, names: dict[int, str], *, rounds: int, seed: int, prior: float,
    prior_sd: float = 0.0, min_votes: int = 0,
) -> DimensionBoard:
    n, counts = len(dim.model_ids), dim.counts
    warnings: list[str] = []
    if dim.total == 0 or n < 2:
        return DimensionBoard(
            dimension=dimension, scores=[], total_votes=dim.total, battle_counts=[], win_rates=[],
            dropped_both_bad=dim.dropped_both_bad, warnings=["no_votes" if dim.total == 0 else "single_model"],
        )
    ridge = ridge_for(prior_sd)
    theta = bt.fit_point(counts, n, prior, ridge)
    ratings = bt.to_ratings(theta)
    i, j = bt.pair_index(n)
    wins, ties, losses = np.zeros(n), np.zeros(n), np.zeros(n)
    np.add.at(wins, i, counts[:, 0]); np.add.at(wins, j, counts[:, 2])
    np.add.at(losses, i, counts[:, 2]); np.add.at(losses, j, counts[:, 0])
    np.add.at(ties, i, counts[:, 1]); np.add.at(ties, j, counts[:, 1])
    preliminary = (wins + ties + losses) < min_votes
    covariances = bt.analytic_covariances(theta, counts, n, prior, ridge)
    intervals = _intervals(theta, counts, n, prior, ridge, rounds, seed, preliminary, covariances)
    labels = bt.connected_components(counts, n)
    components = int(labels.max()) + 1

    scores = []
    for k, model_id in enumerate(dim.model_ids):
        flags = []
        # A tie is half a loss, so only models that never lost nor tied have an unbounded MLE.
        if losses[k] + ties[k] == 0:
            flags.append("no_losses")
        if wins[k] + ties[k] == 0:
            flags.append("no_wins")
        if components > 1:
            flags.append("disconnected")
        scores.append(ModelScore(
            model_id=model_id, name=names.get(model_id, f"#{model_id}"), rating=float(ratings[k]),
            votes=int(round(wins[k] + ties[k] + losses[k])),
            wins=float(wins[k]), ties=float(ties[k]), losses=float(losses[k]),
            intervals={key: (float(lo[k]), float(hi[k])) for key, (lo, hi) in intervals.items()}, flags=flags,
            preliminary=bool(preliminary[k]),
        ))
    listed = np.flatnonzero(~preliminary)
    for key, (lo, hi) in intervals.items():  # ranks among listed models only
        for k, rank in zip(listed, bt.rank_by_intervals(lo[listed], hi[listed])):
            scores[k].ranks[key] = int(rank)

    # Listed models first, then the preliminary ones: a preliminary model is never above a listed one.
    order = sorted(range(n), key=lambda k: (bool(preliminary[k]), -ratings[k]))
    battle = np.zeros((n, n), dtype=int)
    battle[i, j] = battle[j, i] = counts.sum(axis=1)
    won = np.zeros((n, n))
    won[i, j] = counts[:, 0] + 0.5 * counts[:, 1]
    won[j, i] = counts[:, 2] + 0.5 * counts[:, 1]
    if dim.total < FEW_VOTES:
        warnings.append("few_votes")
    if counts[:, 1].sum() == dim.total:
        warnings.append("all_ties")
    if components > 1:
        warnings.append("disconnected")
    listed_order = [k for k in order if not preliminary[k]]
    neighbours = [
        (dim.model_ids[upper], dim.model_ids[lower], needed)
        for upper, lower, needed in separation.neighbour_gaps(theta, covariances["fisher"], listed_order, _Z[0.90])
    ]
    return DimensionBoard(
        neighbours=neighbours,
        dimension=dimension, scores=[scores[k] for k in order], total_votes=dim.total,
        battle_counts=[[int(battle[a, b]) for b in order] for a in order],
        win_rates=[[float(won[a, b] / battle[a, b]) if battle[a, b] else None for b in order] for a in order],
        components=components, dropped_both_bad=dim.dropped_both_bad, warnings=warnings,
    )


def _intervals(
    theta, counts, n, prior, ridge, rounds, seed, preliminary: np.ndarray, covariances: dict | None = None
) -> dict[tuple[str, float], tuple[np.ndarray, np.ndarray]]:
    """Rating intervals for every (method, level): bootstrap percentiles and the two analytic ones.

    The bootstrap and the sandwich are large-sample methods: a model with one vote has a bootstrap
    spread of zero. So a preliminary model (fewer than ``min_votes`` votes) gets the posterior
    interval (``fisher``: Laplace, (H + prior)⁻¹) whatever the method, and every interval is widened
    to contain its own point (a skewed percentile interval can miss it).
    """
    out = {}
    ratings = bt.to_ratings(theta)
    if rounds > 0:
        boot = bt.to_ratings(bt.bootstrap_thetas(counts, n, prior, rounds, seed, start=theta, ridge=ridge))
        for level in LEVELS:
            tail = (1.0 - level) / 2.0
            lower, upper = np.quantile(boot, [tail, 1.0 - tail], axis=0)
            out[("bootstrap", level)] = (lower, upper)
    for method, cov in (covariances or bt.analytic_covariances(theta, counts, n, prior, ridge)).items():
        se = bt.ELO_SCALE * np.sqrt(np.clip(np.diag(cov), 0.0, None))
        for level in LEVELS:
            out[(method, level)] = (ratings - _Z[level] * se, ratings + _Z[level] * se)
    for (method, level), (lower, upper) in out.items():
        if method != "fisher":
            posterior_lo, posterior_hi = out[("fisher", level)]
            lower, upper = np.where(preliminary, posterior_lo, lower), np.where(preliminary, posterior_hi, upper)
        out[(method, level)] = (np.minimum(lower, ratings), np.maximum(upper, ratings))
    return out
