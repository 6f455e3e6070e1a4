"""style_data.py: each vote's outcome, pair and summed style features, as the style fit reads them
(on PostgreSQL: int4 arrays read by parallel connections, outside a transaction)."""
from __future__ import annotations

import numpy as np
import pytest

from arena.models import AnswerStyle, Message, Vote
from arena.ranking.counts import VoteFilters
from arena.ranking.style_data import load_style_rows
from arena.services.styles import store_vote_styles
from tests.arena.factories import add_votes, make_models


def styled_votes(count: int):
    m1, m2, m3 = make_models(3)
    pairs = [(m1, m2), (m2, m3), (m3, m1)]
    choices = ["A", "B", "tie", "both_bad"]
    votes = add_votes([(*pairs[v % 3], choices[v % 3], choices[(v + 1) % 3], choices[v % 4]) for v in range(count)])
    for v, vote in enumerate(votes[:-1]):  # the last vote has no stored styles
        for side, tokens in (("A", 10 + v), ("B", 100 + 2 * v)):
            message = Message.objects.create(battle=vote.battle, turn=0, role="assistant", side=side, content="x")
            AnswerStyle.objects.create(message=message, battle=vote.battle, side=side, tokens=tokens, bold=v % 2)
    Vote.objects.filter(pk=votes[1].pk).update(weight=0.25)
    store_vote_styles(battle_ids=[vote.battle_id for vote in votes])
    return votes


def check_rows(votes):
    rows = load_style_rows(VoteFilters())
    assert len(rows) == len(votes) - 1 and rows.votes_without_style == 1
    order = np.argsort(rows.side_a[:, 0])  # tokens of side A: 10 + the vote's index
    assert rows.side_a[order, 0].tolist() == [10 + v for v in range(len(votes) - 1)]
    assert rows.side_b[order, 0].tolist() == [100 + 2 * v for v in range(len(votes) - 1)]
    assert rows.side_a[order, 3].tolist() == [v % 2 for v in range(len(votes) - 1)]  # bold
    expected_a = [votes[v].model_a_id for v in range(len(votes) - 1)]
    assert rows.model_a[order].tolist() == expected_a
    codes = {"A": 0, "tie": 1, "B": 2, "both_bad": 3}
    assert rows.outcomes["overall"][order].tolist() == [codes[votes[v].overall] for v in range(len(votes) - 1)]
    assert rows.weights[order].tolist()[:3] == [1.0, 0.25, 1.0]


@pytest.mark.django_db
def test_every_styled_vote_comes_back_once_with_its_sums():
    check_rows(styled_votes(9))


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_parallel_readers_return_the_same_rows():
    check_rows(styled_votes(9))


@pytest.mark.django_db
def test_no_votes_is_an_empty_matrix():
    rows = load_style_rows(VoteFilters())
    assert len(rows) == 0 and rows.side_a.shape == (0, 6)
