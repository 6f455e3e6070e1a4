"""Reads: the benchmarks table, arena scores per dimension and their rank correlation."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import F
from django.utils.translation import gettext_lazy as _

from .correlation import correlate
from .models import BenchmarkScore, EvaluationRun
from .suites import BENCHMARKS

# Arena vote dimensions (arena.models.Vote fields), in the order the study reported them.
ARENA_DIMENSIONS = [("content", _("Content")), ("language", _("Language")), ("overall", _("Overall"))]


@dataclass
class BenchmarkRow:
    model: str
    scores: dict[str, float | None]  # benchmark name -> headline metric value
    runs: dict[str, int] = field(default_factory=dict)  # benchmark name -> run id it came from
    limited: bool = False  # some score comes from a --limit run (a sample, not the full test set)

    @property
    def present(self) -> list[float]:
        return [v for v in self.scores.values() if v is not None]

    @property
    def complete(self) -> bool:
        return len(self.present) == len(BENCHMARKS)

    @property
    def average(self) -> float | None:
        """The Basque average: unweighted mean of the headline benchmarks, as the study's table."""
        return sum(self.present) / len(self.present) if self.present else None

    def cells(self) -> list[float | None]:
        return [self.scores.get(b.name) for b in BENCHMARKS]


def _model_name(run: EvaluationRun) -> str:
    return run.served_model.public_name if run.served_model_id else run.model_label


def benchmark_rows() -> list[BenchmarkRow]:
    """One row per model: for each benchmark its newest successful score, full runs before limited ones."""
    wanted = {b.name: b.metric for b in BENCHMARKS}
    scores = (
        BenchmarkScore.objects.filter(run__status=EvaluationRun.Status.SUCCEEDED, benchmark__in=wanted.keys(),
                                      filter="none")
        .select_related("run", "run__served_model")
        # Full runs (NULL limit) first on every database, then the newest.
        .order_by(F("run__limit").asc(nulls_first=True), F("run__finished_at").desc(nulls_last=True), "-run_id")
    )
    rows: dict[str, BenchmarkRow] = {}
    for score in scores:
        if score.metric != wanted[score.benchmark]:
            continue
        name = _model_name(score.run)
        row = rows.setdefault(name, BenchmarkRow(model=name, scores={b.name: None for b in BENCHMARKS}))
        if row.scores[score.benchmark] is None:
            row.scores[score.benchmark] = score.value
            row.runs[score.benchmark] = score.run_id
            row.limited = row.limited or score.run.limit is not None
    return sorted(rows.values(), key=lambda r: (-(r.average or -1.0), r.model))


def benchmark_averages(complete_only: bool = True) -> dict[str, float]:
    return {r.model: r.average for r in benchmark_rows() if r.average is not None and (r.complete or not complete_only)}


# -- arena scores -------------------------------------------------------------------------------

def arena_scores(dimension: str) -> dict[str, float]:
    """Arena score per model public name for one dimension.

    Uses ``arena.selectors.leaderboard_scores(dimension)`` (Bradley–Terry) when the arena app
    provides it; until then, win rates from the votes.
    """
    try:
        from arena import selectors as arena_selectors
    except ImportError:
        arena_selectors = None
    hook = getattr(arena_selectors, "leaderboard_scores", None)
    if callable(hook):
        return {str(name): float(value) for name, value in hook(dimension).items()}
    return vote_win_rates(dimension)


def vote_win_rates(dimension: str) -> dict[str, float]:
    """(wins + ties/2) / votes per model, from non-excluded votes. "both_bad" counts as a tie."""
    from arena.models import Vote

    if dimension not in {d for d, _label in ARENA_DIMENSIONS}:
        raise ValueError(f"unknown arena dimension {dimension!r}")
    points: dict[str, float] = {}
    games: dict[str, int] = {}
    votes = Vote.objects.filter(excluded=False).values_list(
        "battle__model_a__public_name", "battle__model_b__public_name", dimension
    )
    for model_a, model_b, choice in votes:
        share_a = {"A": 1.0, "B": 0.0}.get(choice, 0.5)
        for name, share in ((model_a, share_a), (model_b, 1.0 - share_a)):
            points[name] = points.get(name, 0.0) + share
            games[name] = games.get(name, 0) + 1
    return {name: points[name] / games[name] for name in games}


def correlations(arena_source: Callable[[str], dict[str, float]] = arena_scores,
                 bench_scores: dict[str, float] | None = None) -> list[dict]:
    """Spearman/Kendall between each arena dimension and the Basque benchmark average."""
    bench = benchmark_averages() if bench_scores is None else bench_scores
    return [{"dimension": dim, "label": label, **correlate(arena_source(dim), bench)}
            for dim, label in ARENA_DIMENSIONS]


def recent_runs(limit: int = 20):
    return EvaluationRun.objects.select_related("served_model").order_by("-created_at")[:limit]
