"""Reads: the benchmarks table (one protocol at a time), its averages, and their rank correlation
with the arena's scores per dimension."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from arena.selectors import leaderboard_scores
from arena.vocabulary import DIMENSIONS, Dimension

from .correlation import correlate
from .models import BenchmarkScore, EvaluationRun, protocol_key
from .study import AVERAGES, Average, Member


def columns() -> tuple[Member, ...]:
    """Every benchmark the page can show, in order: the study's tasks, then BasqueGLUE."""
    return tuple(member for average in AVERAGES for member in average.members)


@dataclass
class AverageCell:
    average: Average
    value: float | None
    covered: tuple[str, ...]  # the member benchmarks it averages (those with a score)

    @property
    def complete(self) -> bool:
        return len(self.covered) == len(self.average.members)


@dataclass
class BenchmarkRow:
    model: str
    scores: dict[str, float | None]  # benchmark name -> headline metric value
    runs: dict[str, int] = field(default_factory=dict)  # benchmark name -> run id it came from

    def cells(self, shown: tuple[Member, ...]) -> list[float | None]:
        return [self.scores.get(member.benchmark) for member in shown]

    def average(self, average: Average) -> AverageCell:
        """The unweighted mean of the members present (the study's table is unweighted)."""
        present = [(m.benchmark, self.scores[m.benchmark]) for m in average.members
                   if self.scores.get(m.benchmark) is not None]
        value = sum(v for _, v in present) / len(present) if present else None
        return AverageCell(average=average, value=value, covered=tuple(name for name, _ in present))

    def averages(self) -> list[AverageCell]:
        return [self.average(average) for average in AVERAGES]


@dataclass
class Table:
    protocol: str  # the protocol every score of the table shares ("" = no runs)
    protocols: list[tuple[str, int]]  # every protocol with results, and how many models each has
    columns: tuple[Member, ...]  # the benchmarks with a score under this protocol
    rows: list[BenchmarkRow]


def _model_name(run: EvaluationRun) -> str:
    return run.served_model.public_name if run.served_model_id else run.model_label


def _succeeded_scores():
    wanted = {(m.benchmark, m.metric, m.filter) for m in columns()}
    scores = (BenchmarkScore.objects.filter(run__status=EvaluationRun.Status.SUCCEEDED,
                                            benchmark__in={name for name, _, _ in wanted})
              .select_related("run", "run__served_model")
              .order_by("-run__finished_at", "-run_id"))
    return [s for s in scores if (s.benchmark, s.metric, s.filter) in wanted]


def protocols(scores=None) -> list[tuple[str, int]]:
    """Protocols with results, most models first (full runs before limited ones on a tie)."""
    scores = _succeeded_scores() if scores is None else scores
    models: dict[str, set[str]] = {}
    limited: dict[str, bool] = {}
    for score in scores:
        key = protocol_key(score.run.protocol)
        models.setdefault(key, set()).add(_model_name(score.run))
        limited[key] = (score.run.protocol or {}).get("limit") is not None
    return sorted(((key, len(names)) for key, names in models.items()),
                  key=lambda item: (-item[1], limited[item[0]], item[0]))


def benchmark_table(protocol: str | None = None) -> Table:
    """One row per model, from runs of one protocol only (the given one, else the one most models have):
    for each benchmark its newest successful score."""
    scores = _succeeded_scores()
    available = protocols(scores)
    if protocol is None or protocol not in dict(available):
        protocol = available[0][0] if available else ""
    rows: dict[str, BenchmarkRow] = {}
    for score in scores:  # newest first
        if protocol_key(score.run.protocol) != protocol:
            continue
        name = _model_name(score.run)
        row = rows.setdefault(name, BenchmarkRow(model=name, scores={}))
        if score.benchmark not in row.scores:
            row.scores[score.benchmark] = score.value
            row.runs[score.benchmark] = score.run_id
    shown = tuple(m for m in columns() if any(m.benchmark in row.scores for row in rows.values()))
    ordered = sorted(rows.values(), key=lambda r: (-(r.average(AVERAGES[0]).value or -1.0),
                                                   -(r.average(AVERAGES[1]).value or -1.0), r.model))
    return Table(protocol=protocol, protocols=available, columns=shown, rows=ordered)


def arena_scores(dimension: str) -> dict[str, float]:
    """Bradley–Terry score per model public name on the arena's public leaderboard, for one dimension."""
    return {str(name): float(value) for name, value in leaderboard_scores(dimension).items()}


def comparable_averages(rows: list[BenchmarkRow], average: Average) -> tuple[tuple[str, ...], dict[str, float]]:
    """(the benchmarks covered, {model: average}) over the models whose average covers the same
    benchmarks as most models' do: averages over different tasks are not compared."""
    cells = {row.model: row.average(average) for row in rows}
    coverage = Counter(cell.covered for cell in cells.values() if cell.covered)
    if not coverage:
        return (), {}
    covered = max(coverage, key=lambda c: (coverage[c], len(c)))
    return covered, {model: cell.value for model, cell in cells.items() if cell.covered == covered}


def correlations(rows: list[BenchmarkRow] | None = None) -> list[dict]:
    """For each average (the study's, BasqueGLUE): which benchmarks it covers, whether it is the
    study's own (all 14 tasks), and Spearman/Kendall against each arena dimension."""
    rows = benchmark_table().rows if rows is None else rows
    arena = {dim: arena_scores(dim) for dim in DIMENSIONS}
    out = []
    for average in AVERAGES:
        covered, bench = comparable_averages(rows, average)
        out.append({
            "average": average, "covered": covered, "complete": len(covered) == len(average.members),
            "dimensions": [{"dimension": dim, "label": Dimension(dim).label, **correlate(arena[dim], bench)}
                           for dim in DIMENSIONS],
        })
    return out
