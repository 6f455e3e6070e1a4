"""Leaderboard figures (arena/ranking/plots.py)."""
from __future__ import annotations

from arena.ranking import plots
from arena.ranking.board import DimensionBoard, ModelScore


def score(name: str, rating: float, interval: tuple[float, float]) -> ModelScore:
    return ModelScore(model_id=len(name), name=name, rating=rating, votes=1, wins=1, ties=0, losses=0,
                      intervals={("bootstrap", 0.9): interval})


def test_scores_plot_survives_a_point_outside_its_interval():
    """Defect (issue #12): matplotlib refused negative error bars and the page showed a broken image."""
    board = DimensionBoard(dimension="overall", total_votes=1, battle_counts=[[0, 1], [1, 0]],
                           win_rates=[[None, 1.0], [0.0, None]],
                           scores=[score("A", 1401.0, (1390.0, 1395.0)), score("BB", 599.0, (600.0, 610.0))])
    body = plots.render(board, "scores", "svg", "bootstrap", 0.9, "Overall")
    assert body.startswith(b"<?xml") and b"<svg" in body
