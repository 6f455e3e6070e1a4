"""The agreement analyses (arena/agreement.py) on votes with known structure."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from arena import agreement
from arena.models import Vote
from arena.ranking.counts import VoteFilters
from tests.arena.factories import add_votes, make_models, make_voter, synthetic_rows


def test_vectorised_kappa_matches_scikit_learn():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, 500)
    y = np.where(rng.random(500) < 0.6, x, rng.integers(0, 3, 500))
    table = np.zeros((3, 3))
    np.add.at(table, (x, y), 1)
    assert agreement.kappa(table) == pytest.approx(cohen_kappa_score(x, y))
    assert agreement.kappa(np.stack([table, table.T])) == pytest.approx([cohen_kappa_score(x, y)] * 2)


@pytest.mark.django_db
def test_questions_that_always_agree_have_kappa_one_and_independent_ones_near_zero():
    m1, m2 = make_models(2)
    rng = np.random.default_rng(1)
    choices = ["A", "tie", "B"]
    rows = []
    for _ in range(600):
        content = choices[rng.integers(0, 3)]
        rows.append((m1, m2, content, choices[rng.integers(0, 3)], "both_bad" if content == "tie" else content))
    add_votes(rows)
    result = {(r.first, r.second): r for r in agreement.question_agreement(VoteFilters())}
    same = result[("overall", "content")]  # both bad reads as a tie: overall always equals content
    assert same.votes == 600 and same.agreement == 1.0 and same.kappa == pytest.approx(1.0)
    independent = result[("content", "language")]
    assert abs(independent.kappa) < 0.1
    low, high = independent.kappa_interval
    assert low < independent.kappa < high and low < 0 < high


@pytest.mark.django_db
def test_groups_that_rank_alike_have_a_high_spearman_with_an_interval():
    models = make_models(6)
    rng = np.random.default_rng(2)
    truth = np.linspace(-1.5, 1.5, 6)
    for level in ("C1-C2", "native"):
        rows, *_ = synthetic_rows(models, truth, 1500, rng)
        add_votes(rows, participant=make_voter(basque_level=level))
    (pair,) = agreement.group_agreement(VoteFilters())
    assert {pair.first, pair.second} == {"C1-C2", "native"} and pair.models == 6
    assert pair.spearman > 0.8 and pair.interval[0] <= pair.spearman <= pair.interval[1]


@pytest.mark.django_db
def test_position_bias_and_judge_consistency():
    m1, m2 = make_models(2)
    voter = make_voter()
    add_votes([(m1, m2, "A", "A", "A")] * 70 + [(m1, m2, "B", "B", "B")] * 30, participant=voter)
    bias = agreement.position_bias(VoteFilters())
    assert (bias.decisive, bias.left_wins) == (100, 70) and bias.interval[0] < 0.7 < bias.interval[1]
    assert bias.interval[0] > 0.6  # the left side clearly wins more often
    judges = agreement.judge_consistency(VoteFilters())
    # 99 repeats of the pair (m1, m2) after the first judgement (m1 won): 69 agree with it.
    assert (judges.repeats, judges.consistent, judges.judges) == (99, 69, 1)
    Vote.objects.filter(participant=voter).update(excluded=True, exclusion_reasons=["judge_outlier"])
    assert agreement.judge_consistency(VoteFilters()).outlier_judges == 1
