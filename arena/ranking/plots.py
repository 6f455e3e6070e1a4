"""Leaderboard figures (matplotlib, no pyplot: thread-safe) as SVG or PNG bytes."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402

from arena.ranking.board import DimensionBoard  # noqa: E402

PLOT_KINDS = ("scores", "winrate", "counts")
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


def render(board: DimensionBoard, kind: str, fmt: str, method: str, level: float, title: str) -> bytes:
    figure = {"scores": _scores, "winrate": _win_rates, "counts": _battle_counts}[kind](board, method, level, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", dpi=120)
    return buffer.getvalue()


def _scores(board: DimensionBoard, method: str, level: float, title: str) -> Figure:
    scores = board.scores
    height = max(2.5, 0.35 * len(scores) + 1.2)
    figure = Figure(figsize=(7.5, height))
    axes = figure.subplots()
    positions = list(range(len(scores)))[::-1]
    ratings = [s.rating for s in scores]
    # Clipped at 0: matplotlib refuses negative error bars, and a board from an older cache (or a
    # skewed percentile interval) may hold a point outside its interval.
    lower = [max(0.0, s.rating - s.intervals[(method, level)][0]) for s in scores]
    upper = [max(0.0, s.intervals[(method, level)][1] - s.rating) for s in scores]
    colours = ["#8a8f99" if s.preliminary else "#c8102e" for s in scores]
    axes.errorbar(ratings, positions, xerr=[lower, upper], fmt="none", ecolor="#5b6474", capsize=3)
    axes.scatter(ratings, positions, c=colours, zorder=3)
    axes.set_yticks(positions, [s.name + (" *" if s.preliminary else "") for s in scores])
    axes.set_xlabel(_("Score (1000 + 400·θ/ln 10), %(level)d%% interval") % {"level": round(level * 100)})
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)
    return figure


def _matrix(board: DimensionBoard, values, title: str, fmt: str, cmap: str, vmin=None, vmax=None) -> Figure:
    names = [s.name for s in board.scores]
    size = max(3.0, 0.45 * len(names) + 2.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.subplots()
    grid = [[float("nan") if v is None else v for v in row] for row in values]
    image = axes.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax)
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right")
    axes.set_yticks(range(len(names)), names)
    if len(names) <= 25:
        for a, row in enumerate(values):
            for b, value in enumerate(row):
                if value is not None and a != b:
                    axes.text(b, a, fmt.format(value), ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_title(title)
    return figure


def _win_rates(board: DimensionBoard, method: str, level: float, title: str) -> Figure:
    return _matrix(board, board.win_rates, title + " — " + _("win rate of row model against column model"),
                   "{:.2f}", "RdBu", 0.0, 1.0)


def _battle_counts(board: DimensionBoard, method: str, level: float, title: str) -> Figure:
    counts = [[value if value else None for value in row] for row in board.battle_counts]
    return _matrix(board, counts, title + " — " + _("battles per pair"), "{:.0f}", "Blues", 0)
