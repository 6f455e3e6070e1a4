"""Reads for the agreement page: what the original study analysed by hand, from the votes.

* the three questions against each other (raw agreement, Cohen's κ with a bootstrap interval);
* each Basque-level group's ranking against the others' (Spearman ρ with a bootstrap interval);
* position bias: how often the answer shown on the left (side A) wins, with its exact interval;
* judge consistency: the same volunteer judging the same pair of models again, and the judges the
  quality checks flagged as outliers.

Aggregates only: no row here identifies a volunteer.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count
from scipy import stats

from arena.models import Participant, Vote
from arena.ranking import bt
from arena.ranking.board import ridge_for
from arena.ranking.counts import VoteFilters, count_votes
from arena.vocabulary import DIMENSIONS, Choice, ExclusionReason, OverallChoice

ANSWERS = (Choice.A, Choice.TIE, Choice.B)  # "both bad" reads as a tie here, as on the board
ROUNDS = 500  # bootstrap rounds for κ and ρ
MIN_GROUP_VOTES = 30  # a group's board with fewer votes says nothing about agreement


@dataclass
class QuestionAgreement:
    first: str
    second: str
    votes: int
    agreement: float  # share of votes with the same answer to both questions
    kappa: float
    kappa_interval: tuple[float, float]
    table: list[list[int]]  # 3×3: rows the first question's A/tie/B, columns the second's


@dataclass
class GroupAgreement:
    first: str
    second: str
    models: int  # models both groups' boards rank
    spearman: float
    interval: tuple[float, float]


@dataclass
class PositionBias:
    decisive: int  # votes with a winner in the overall question
    left_wins: int
    share: float
    interval: tuple[float, float]


@dataclass
class JudgeConsistency:
    repeats: int  # judgements of a pair the same volunteer had judged before
    consistent: int  # ...with the same winner (or a tie again) as their first judgement
    share: float | None
    interval: tuple[float, float] | None
    judges: int  # volunteers with votes under these filters (flagged ones included)
    outlier_judges: int  # of them, flagged by the sequential judge test


def _answer_index(value: str) -> int:
    return 1 if value == OverallChoice.BOTH_BAD else ANSWERS.index(value) if value in ANSWERS else -1


def kappa(tables: np.ndarray) -> np.ndarray:
    """Cohen's κ of (…, k, k) contingency tables, vectorised so that a bootstrap refits thousands at
    once (scikit-learn's cohen_kappa_score takes one list of labels at a time; the test checks this
    formula against it)."""
    total = tables.sum(axis=(-1, -2))
    observed = np.trace(tables, axis1=-2, axis2=-1) / total
    expected = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1) / total**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected < 1, (observed - expected) / (1 - expected), 1.0)


def question_agreement(filters: VoteFilters, seed: int = 0) -> list[QuestionAgreement]:
    cells = Vote.objects.filter(filters.as_q()).values_list(*DIMENSIONS).annotate(n=Count("pk")).order_by()
    cube = np.zeros((3, 3, 3))
    for *answers, n in cells:
        index = [_answer_index(value) for value in answers]
        if min(index) >= 0:
            cube[tuple(index)] += n
    rng = np.random.default_rng(seed)
    out = []
    for (p, first), (q, second) in itertools.combinations(enumerate(DIMENSIONS), 2):
        other = ({0, 1, 2} - {p, q}).pop()
        table = cube.sum(axis=other) if p < q else cube.sum(axis=other).T
        votes = int(table.sum())
        if votes == 0:
            nan = float("nan")
            out.append(QuestionAgreement(first, second, 0, 0.0, nan, (nan, nan), table.astype(int).tolist()))
            continue
        draws = rng.multinomial(votes, (table / votes).ravel(), size=ROUNDS).reshape(ROUNDS, 3, 3).astype(float)
        low, high = np.nanquantile(kappa(draws), [0.05, 0.95])
        out.append(QuestionAgreement(
            first=first, second=second, votes=votes, agreement=float(np.trace(table) / votes),
            kappa=float(kappa(table)), kappa_interval=(float(low), float(high)), table=table.astype(int).tolist(),
        ))
    return out


def group_agreement(filters: VoteFilters, dimension: str = "overall", seed: int = 0) -> list[GroupAgreement]:
    """Spearman ρ between two Basque-level groups' scores over the models both rank; the interval
    from paired bootstrap replicates of each group's board (votes resampled within each group)."""
    arena = settings.ARENA
    ridge, prior = ridge_for(arena["LEADERBOARD_PRIOR_SD"]), arena["LEADERBOARD_PSEUDO_COUNT"]
    fits = {}
    for k, level in enumerate(Participant.BasqueLevel.values):
        dim = count_votes(dataclasses.replace(filters, basque_level=level)).dimensions[dimension]
        if dim.total < MIN_GROUP_VOTES or len(dim.model_ids) < 3:
            continue
        n = len(dim.model_ids)
        theta = bt.fit_point(dim.counts, n, prior, ridge)
        draws = bt.bootstrap_thetas(dim.counts, n, prior, ROUNDS, seed + k, start=theta, ridge=ridge)
        fits[level] = (dim.model_ids, theta, draws)
    out = []
    for first, second in itertools.combinations(fits, 2):
        ids_a, theta_a, draws_a = fits[first]
        ids_b, theta_b, draws_b = fits[second]
        common = sorted(set(ids_a) & set(ids_b))
        if len(common) < 3:
            continue
        pick_a = [ids_a.index(m) for m in common]
        pick_b = [ids_b.index(m) for m in common]
        rho = stats.spearmanr(theta_a[pick_a], theta_b[pick_b]).statistic
        replicates = [stats.spearmanr(x[pick_a], y[pick_b]).statistic for x, y in zip(draws_a, draws_b)]
        low, high = np.nanquantile(replicates, [0.05, 0.95])
        out.append(GroupAgreement(first, second, len(common), float(rho), (float(low), float(high))))
    return out


def position_bias(filters: VoteFilters) -> PositionBias:
    """Side A is shown on the left; among overall votes with a winner, how often it wins (Clopper–Pearson)."""
    decided = Vote.objects.filter(filters.as_q(), overall__in=[Choice.A, Choice.B])
    total = decided.count()
    left = decided.filter(overall=Choice.A).count()
    if total == 0:
        return PositionBias(0, 0, float("nan"), (float("nan"), float("nan")))
    interval = stats.binomtest(left, total).proportion_ci(confidence_level=0.90)
    return PositionBias(total, left, left / total, (float(interval.low), float(interval.high)))


def judge_consistency(filters: VoteFilters) -> JudgeConsistency:
    """Repeated judgements of the same pair by the same volunteer, compared with their first one."""
    first_seen: dict[tuple, object] = {}
    repeats = consistent = 0
    judges: set[int] = set()
    outliers: set[int] = set()
    votes = (Vote.objects.filter(filters.as_q(with_flag_filter=False)).order_by("created_at", "pk")
             .values_list("participant_id", "model_a_id", "model_b_id", "overall", "excluded", "exclusion_reasons"))
    for participant, model_a, model_b, overall, excluded, reasons in votes.iterator():
        judges.add(participant)
        if ExclusionReason.JUDGE_OUTLIER in (reasons or ()):
            outliers.add(participant)
        if excluded and not filters.include_flagged:
            continue
        winner = {Choice.A: model_a, Choice.B: model_b}.get(overall, "tie")  # both bad reads as a tie
        key = (participant, min(model_a, model_b), max(model_a, model_b))
        if key in first_seen:
            repeats += 1
            consistent += first_seen[key] == winner
        else:
            first_seen[key] = winner
    interval = None
    if repeats:
        ci = stats.binomtest(consistent, repeats).proportion_ci(confidence_level=0.90)
        interval = (float(ci.low), float(ci.high))
    return JudgeConsistency(repeats, consistent, consistent / repeats if repeats else None, interval, len(judges),
                            len(outliers))
