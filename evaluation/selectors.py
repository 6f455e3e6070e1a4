"""Reads: the benchmarks table, arena scores per dimension and their rank correlation."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F

from arena.selectors import leaderboard_scores
from arena.vocabulary import DIMENSIONS, Dimension

from .correlation import correlate
from .models import BenchmarkScore, EvaluationRun
from .suites import benchmarks


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
        return len(self.present) == len(benchmarks())

    @property
    def average(self) -> float | None:
        """The Basque average: unweighted mean of the headline benchmarks, as the study's table."""
        return sum(self.present) / len(self.present) if self.present else None

    def cells(self) -> list[float | None]:
        return [self.scores.get(b.name) for b in benchmarks()]


def _model_name(run: EvaluationRun) -> str:
    return run.served_model.public_name if run.served_model_id else run.model_label


def benchmark_rows() -> list[BenchmarkRow]:
    """One row per model: for each benchmark its newest successful score, full runs before limited ones."""
    wanted = {b.name: b.metric for b in benchmarks()}
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
        row = rows.setdefault(name, BenchmarkRow(model=name, scores=dict.fromkeys(wanted)))
        if row.scores[score.benchmark] is None:
            row.scores[score.benchmark] = score.value
            row.runs[score.benchmark] = score.run_id
            row.limited = row.limited or score.run.limit is not None
    return sorted(rows.values(), key=lambda r: (-(r.average or -1.0), r.model))


def benchmark_averages() -> dict[str, float]:
    """The Basque average of each model whose row is complete (the only ones correlated)."""
    return {r.model: r.average for r in benchmark_rows() if r.complete}


def arena_scores(dimension: str) -> dict[str, float]:
    """Bradley–Terry score per model public name on the arena's public leaderboard, for one dimension."""
    return {str(name): float(value) for name, value in leaderboard_scores(dimension).items()}


def correlations(bench_scores: dict[str, float] | None = None) -> list[dict]:
    """Spearman/Kendall between each arena dimension and the Basque benchmark average."""
    bench = benchmark_averages() if bench_scores is None else bench_scores
    return [{"dimension": dim, "label": Dimension(dim).label, **correlate(arena_scores(dim), bench)}
            for dim in DIMENSIONS]
