"""Selector: vote counts per (model A, model B, outcome), aggregated by the database."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from arena.models import Vote
from arena.vocabulary import DIMENSIONS, Choice, ExclusionReason, OverallChoice, exclusion_reason

# Vote field value -> column of a pair's (i beats j, tie, j beats i) triple, seen from side A.
_SIDE_A_OUTCOME = {Choice.A: 0, Choice.TIE: 1, Choice.B: 2}


@dataclass(frozen=True)
class VoteFilters:
    """What subset of votes a leaderboard is computed on (all optional)."""

    basque_level: str = ""
    education: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    include_flagged: bool = False
    category: str = ""  # a Category slug: only battles whose first prompt has it (arena/categories.py)
    prompt_language: str = ""  # ISO code of the first prompt's language, e.g. "eu": Basque prompts only
    campaign: str = ""  # a Campaign slug: only the votes cast in that campaign (Vote.campaign)

    def cache_token(self) -> str:
        return "|".join(
            [self.basque_level, self.education, str(self.date_from or ""), str(self.date_to or ""),
             "all" if self.include_flagged else "clean", self.category, self.prompt_language, self.campaign]
        )

    def as_q(self, *, with_flag_filter: bool = True) -> Q:
        q = Q()
        if self.basque_level:
            q &= Q(basque_level=self.basque_level)
        if self.education:
            q &= Q(education=self.education)
        # Dates are local calendar days (Europe/Madrid): [date_from 00:00, date_to + 1 day 00:00).
        if self.date_from:
            q &= Q(created_at__gte=_start_of_day(self.date_from))
        if self.date_to:
            q &= Q(created_at__lt=_start_of_day(self.date_to + dt.timedelta(days=1)))
        if with_flag_filter and not self.include_flagged:
            q &= Q(excluded=False)
        if self.category:
            q &= Q(battle__prompt_label__categories__slug=self.category)
        if self.prompt_language:
            q &= Q(battle__prompt_label__language=self.prompt_language)
        if self.campaign:
            q &= Q(campaign__slug=self.campaign)
        return q


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass
class DimensionCounts:
    """Counts for one dimension: ``counts[p] = (i beats j, tie, j beats i)`` for pair p = (i < j)."""

    model_ids: list[int]
    counts: np.ndarray  # (P, 3), pairs in numpy.triu_indices order over model_ids
    dropped_both_bad: int = 0

    @property
    def total(self) -> int:
        return int(round(self.counts.sum()))  # weights (near-duplicate prompts) make counts fractional


@dataclass
class VoteCounts:
    dimensions: dict[str, DimensionCounts]
    excluded_total: int = 0
    excluded_by_reason: dict[str, int] = field(default_factory=dict)
    latest_vote_at: dt.datetime | None = None  # the newest vote counted
    capped_votes: int = 0  # votes on near-duplicate prompts, down-weighted...
    capped_weight: float = 0.0  # ...to this many votes in all


def count_votes(filters: VoteFilters, both_bad_as_tie: bool = True) -> VoteCounts:
    """One GROUP BY over the filtered votes gives all three dimensions at once. A vote counts its
    ``weight`` (below 1 for near-duplicate prompts, see services.labels.reweight_duplicates)."""
    query = (
        Vote.objects.filter(filters.as_q())
        .values_list("model_a_id", "model_b_id", *DIMENSIONS)  # each dimension is a Vote field
        .annotate(n=Sum("weight"))
        .order_by()
    )
    if connection.vendor == "postgresql":
        # At ~1M votes the planner's cost crosses jit_above_cost; compiling the plan costs more
        # than it saves for a query that runs once. SET LOCAL ends with this transaction.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            rows = list(query)
    else:
        rows = list(query)
    dimensions = {name: _dimension_counts(rows, 2 + k, both_bad_as_tie) for k, name in enumerate(DIMENSIONS)}
    excluded_total, by_reason = _excluded_summary(filters)
    summary = Vote.objects.filter(filters.as_q()).aggregate(
        latest=Max("created_at"), capped=Count("pk", filter=Q(weight__lt=1.0)),
        capped_weight=Sum("weight", filter=Q(weight__lt=1.0)))
    return VoteCounts(dimensions=dimensions, excluded_total=excluded_total, excluded_by_reason=by_reason,
                      latest_vote_at=summary["latest"], capped_votes=summary["capped"],
                      capped_weight=float(summary["capped_weight"] or 0.0))


def votes_since(filters: VoteFilters, latest: dt.datetime | None) -> int:
    """Votes matching ``filters`` stored after ``latest`` (all of them when None): what a board lags by."""
    query = Vote.objects.filter(filters.as_q())
    return (query.filter(created_at__gt=latest) if latest else query).count()


def _dimension_counts(rows: list[tuple], column: int, both_bad_as_tie: bool) -> DimensionCounts:
    per_cell: Counter = Counter()
    dropped = 0
    for row in rows:
        model_a, model_b, choice, n = row[0], row[1], row[column], row[-1]
        if choice == OverallChoice.BOTH_BAD:
            if not both_bad_as_tie:
                dropped += n
                continue
            choice = Choice.TIE
        outcome = _SIDE_A_OUTCOME.get(choice)
        if outcome is None or model_a == model_b:
            continue
        per_cell[(model_a, model_b, outcome)] += n
    model_ids = sorted({cell[0] for cell in per_cell} | {cell[1] for cell in per_cell})
    position = {model_id: k for k, model_id in enumerate(model_ids)}
    size = len(model_ids)
    pair_of = np.full((size, size), -1, dtype=int)
    rows_i, cols_j = np.triu_indices(size, k=1)
    pair_of[rows_i, cols_j] = np.arange(len(rows_i))
    counts = np.zeros((len(rows_i), 3))
    for (model_a, model_b, outcome), n in per_cell.items():
        a, b = position[model_a], position[model_b]
        if a < b:
            counts[pair_of[a, b], outcome] += n
        else:  # seen from the lower index, "A wins" is "j beats i"
            counts[pair_of[b, a], 2 - outcome] += n
    return DimensionCounts(model_ids=model_ids, counts=counts, dropped_both_bad=int(round(dropped)))


def _excluded_summary(filters: VoteFilters) -> tuple[int, dict[str, int]]:
    """How many flagged votes the same filters match, and how many have each ``ExclusionReason``
    (an excluded vote without a known reason was excluded by an admin: it counts as manual)."""
    reason_counts: Counter = Counter()
    total = 0
    flagged = Vote.objects.filter(filters.as_q(with_flag_filter=False), excluded=True)
    for reasons, n in flagged.values_list("exclusion_reasons").annotate(n=Count("pk")).order_by():
        total += n
        codes = {exclusion_reason(code).value for code in reasons or ()} or {ExclusionReason.MANUAL.value}
        for code in codes:  # each vote once per reason
            reason_counts[code] += n
    return total, dict(reason_counts)
