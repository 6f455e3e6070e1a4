"""Style-controlled boards from database votes (arena/ranking/style_board.py, style_data.py)."""
from __future__ import annotations

import numpy as np
import pytest

from arena import ranking
from arena.models import Battle, Vote
from arena.ranking.counts import VoteFilters
from tests.arena.factories import add_styled_votes, make_models, make_voter


@pytest.fixture(autouse=True)
def fresh_cache(fresh_ranking_cache):
    """The leaderboard cache is per process; each test starts from an empty one."""


@pytest.mark.django_db
def test_a_model_that_only_writes_longer_answers_loses_its_lead_once_style_is_controlled():
    rng = np.random.default_rng(8)
    models = make_models(4)
    add_styled_votes(models, rng, 3000, tokens=[600, 200, 200, 200], length_effect=3.0, left_bias=0.3)
    board = ranking.build_leaderboard(VoteFilters(), rounds=50, style_rounds=30)
    raw = {s.model_id: s.rating for s in board.boards["overall"].scores}
    style = board.style["overall"]
    controlled = {s.model_id: s for s in style.scores}
    assert style.votes_used == 3000 and style.votes_without_style == 0
    others = [models[k].pk for k in (1, 2, 3)]
    assert raw[models[0].pk] - np.mean([raw[m] for m in others]) > 100  # long answers win raw votes...
    gap = controlled[models[0].pk].rating - np.mean([controlled[m].rating for m in others])
    assert abs(gap) < 40  # ...but not once length is controlled: all four are equally good
    assert controlled[models[0].pk].raw_rating == raw[models[0].pk]
    for score in style.scores:
        for key, (lo, hi) in score.intervals.items():
            assert lo <= score.rating <= hi, key
    effects = {c.name: c for c in style.coefficients}
    length = effects["tokens"]
    assert length.win_probability > 0.6  # twice as long: σ(3 · 1/3) ≈ 0.73
    assert length.intervals[("sandwich", 0.9)][0] > 0.5 and length.intervals[("bootstrap", 0.9)][0] > 0.5
    assert not effects["headers"].observed and effects["headers"].win_probability == 0.5  # never varied
    left = effects["left_position"]
    assert 0.52 < left.win_probability < 0.62  # σ(0.3) ≈ 0.57
    assert left.intervals[("sandwich", 0.9)][0] < left.win_probability < left.intervals[("sandwich", 0.9)][1]


@pytest.mark.django_db
def test_votes_without_style_features_are_counted_apart():
    models = make_models(3)
    add_styled_votes(models, np.random.default_rng(1), 60, tokens=[100, 100, 100], length_effect=0, left_bias=0)
    voter = make_voter()
    battle = Battle.objects.create(participant=voter, model_a=models[0], model_b=models[1], status="voted")
    Vote.objects.create(battle=battle, participant=voter, model_a=models[0], model_b=models[1], content="A",
                        language="A", overall="A")
    style = ranking.build_leaderboard(VoteFilters(), rounds=0, style_rounds=0).style["overall"]
    assert style.votes_used == 60 and style.votes_without_style == 1
    assert ("bootstrap", 0.9) not in style.scores[0].intervals  # no rounds asked: sandwich only


@pytest.mark.django_db
def test_filters_apply_to_the_style_rows_too():
    models = make_models(3)
    add_styled_votes(models, np.random.default_rng(2), 40, tokens=[100, 100, 100], length_effect=0, left_bias=0)
    learners = ranking.build_leaderboard(VoteFilters(basque_level="A1-A2"), rounds=0, style_rounds=0)
    assert learners.style["overall"].scores == [] and learners.style["overall"].votes_used == 0
    advanced = ranking.build_leaderboard(VoteFilters(basque_level="C1-C2"), rounds=0, style_rounds=0)
    assert advanced.style["overall"].votes_used == 40
