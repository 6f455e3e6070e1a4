"""Paper tables (arena/ranking/tables.py): CSV and LaTeX with escaped, untrusted model names."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from arena import ranking
from arena.ranking import tables
from arena.ranking.counts import VoteFilters
from tests.arena.factories import add_styled_votes, make_models


@pytest.fixture(autouse=True)
def fresh_cache(fresh_ranking_cache):
    """The leaderboard cache is per process; each test starts from an empty one."""


@pytest.mark.django_db
def test_csv_and_latex_hold_raw_and_style_controlled_scores_for_every_dimension():
    models = make_models(3, prefix="Model")
    models[0].public_name = "Latxa_7B & 100% {beta} #1 \\o/"
    models[0].save()
    add_styled_votes(models, np.random.default_rng(5), 400, tokens=[300, 200, 100], length_effect=1.0, left_bias=0)
    board = ranking.build_leaderboard(VoteFilters(), rounds=50, style_rounds=0, min_votes=300)
    rows = tables.board_rows(board, "bootstrap", 0.9)
    assert len(rows) == 9 and {row["dimension"] for row in rows} == {"overall", "content", "language"}
    parsed = list(csv.DictReader(io.StringIO(tables.to_csv(rows))))
    assert parsed[0].keys() == set(tables.COLUMNS) and len(parsed) == 9
    assert all(float(r["lower"]) <= float(r["score"]) <= float(r["upper"]) for r in parsed)
    assert all(r["style_score"] for r in parsed)
    latex = tables.to_latex(rows, 0.9, "Bootstrap")
    assert latex.count("\\begin{table}") == 3 and "\\toprule" in latex
    assert r"Latxa\_7B \& 100\% \{beta\} \#1 \textbackslash{}o/" in latex
    assert "Latxa_7B &" not in latex


@pytest.mark.django_db
def test_preliminary_models_come_last_and_unranked_in_the_latex_table():
    models = make_models(3)
    add_styled_votes(models, np.random.default_rng(6), 200, tokens=[100, 100, 100], length_effect=0, left_bias=0)
    board = ranking.build_leaderboard(VoteFilters(), rounds=0, style_rounds=0, min_votes=10_000)
    latex = tables.to_latex(tables.board_rows(board, "sandwich", 0.9), 0.9, "Sandwich")
    assert latex.count("$^\\dagger$") == 9 and "preliminary: too few votes" in latex
    assert "\n-- & Model-" in latex
