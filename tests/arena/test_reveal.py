"""arena/reveal.py: the public card, measured figures, energy in everyday units, and what a vote did."""
from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from arena import reveal
from arena.ranking import bt, separation
from arena.ranking.board import ranking_settings, ridge_for
from arena.ranking.counts import VoteFilters, count_votes
from models_serving.models import ServedModel
from tests.arena.factories import add_votes, make_models


def test_figures_sum_tokens_and_average_the_first_token_time():
    # Two turns: 101 tokens in 1.0 s after a 200 ms first token; 51 tokens in 0.5 s after 400 ms.
    figures = reveal.answer_figures([(101, 200, 1200), (51, 400, 900)])
    assert figures["turns"] == 2 and figures["tokens"] == 152
    assert figures["ttft_ms"] == 300
    assert figures["tokens_per_second"] == pytest.approx(1000 * (100 + 50) / (1000 + 500))
    with translation.override("en"):
        text = " ".join(line["value"] for line in reveal.answer_figures([(101, 200, 1200), (51, 400, 900)])["lines"])
    assert "152, summed over 2 answers" in text and "0.30 s (mean of 2 answers)" in text and "100.0 tokens" in text


def test_figures_of_an_answer_stopped_before_its_first_token():
    figures = reveal.answer_figures([(0, None, 3000)])
    assert figures["tokens"] == 0 and figures["ttft_ms"] is None and figures["tokens_per_second"] is None
    assert len(figures["lines"]) == 1  # no time or speed to show, only the (zero) tokens


@pytest.mark.django_db
def test_energy_in_everyday_units_only_with_an_estimate():
    model = ServedModel(public_name="Eredu-Bat", energy_wh_per_1k_tokens=None)
    assert reveal.energy(model, 500) is None
    model = ServedModel(public_name="Eredu-Bat", energy_wh_per_1k_tokens=3.0, energy_source="EcoLogits 0.8")
    with translation.override("en"):
        result = reveal.energy(model, 500)  # 1.5 Wh: 9 minutes of a 10 W bulb, 10 % of a 15 Wh charge
    assert result["wh"] == pytest.approx(1.5)
    assert result["led_minutes"] == pytest.approx(9.0) and result["phone_percent"] == pytest.approx(10.0)
    assert "9.0 minutes" in result["text"] and "10.0% of a phone charge" in result["text"]
    assert result["source_text"] == "Source: EcoLogits 0.8"
    with translation.override("en"):
        small = reveal.energy(ServedModel(public_name="x", energy_wh_per_1k_tokens=0.05), 200)  # 0.01 Wh
    assert "lit for 3.6 seconds" in small["text"] and "0.07% of a phone charge" in small["text"]
    with translation.override("eu"):
        assert "3,6" in reveal.energy(ServedModel(public_name="x", energy_wh_per_1k_tokens=0.05), 200)["text"]
    assert "Source: not stated" == small["source_text"]


@pytest.mark.django_db
def test_card_in_plain_words_with_a_link_to_the_leaderboard_row():
    base = ServedModel.objects.create(public_name="Latxa Oinarria", kind=ServedModel.Kind.VLLM_BASE)
    adapter = ServedModel.objects.create(public_name="Latxa Txat 8B", kind=ServedModel.Kind.VLLM_LORA,
                                         base_model=base, parameters="8B")
    with translation.override("en"):
        card = reveal.public_card(adapter)
    assert card["backbone"] == "Latxa Oinarria" and card["parameters"] == "8B"
    assert "LoRA" in card["adaptation"]
    assert card["leaderboard_url"] == "/leaderboard/#overall-latxa-txat-8b"
    assert [line["label"] for line in card["lines"]] == ["Base model", "Size", "Adaptation"]
    plain = ServedModel(public_name="Bat", backbone="Llama 3.1", adaptation="Basque corpus + instructions")
    values = [line["value"] for line in reveal.public_card(plain)["lines"]]
    assert values == ["Llama 3.1", "Basque corpus + instructions"]  # no size given: no size line


def test_no_fit_is_said_plainly():
    assert reveal.vote_effect(None, 1, 2, True)["status"] == "no_fit"
    assert reveal.vote_effect({"theta": {1: 0.0}, "pairs": {}}, 1, 2, True)["status"] == "no_fit"


@pytest.mark.django_db
def test_votes_needed_match_the_fit_and_the_leaderboard(fresh_ranking_cache):
    from arena import ranking

    models = make_models(3)
    a, b, c = models
    rows = ([(a, b, "A", "A", "A")] * 7 + [(a, b, "B", "B", "B")] * 5 + [(b, c, "A", "A", "A")] * 6
            + [(b, c, "B", "B", "tie")] * 4 + [(a, c, "A", "A", "A")] * 5 + [(a, c, "B", "B", "B")] * 2)
    add_votes(rows)
    ranking.refresh_leaderboard(True)
    state = ranking.sampling_state()
    # The same quantity computed straight from the counted votes, as the board does.
    dim = count_votes(VoteFilters(), both_bad_as_tie=True).dimensions["overall"]
    knobs = ranking_settings()
    ridge = ridge_for(knobs["prior_sd"])
    theta = bt.fit_point(dim.counts, len(dim.model_ids), knobs["prior"], ridge)
    cov = bt.analytic_covariances(theta, dim.counts, len(dim.model_ids), knobs["prior"], ridge)["fisher"]
    index = {model_id: k for k, model_id in enumerate(dim.model_ids)}
    for first, second in ((a, b), (b, c), (a, c)):
        expected = separation.votes_to_separate(theta, cov, index[first.pk], index[second.pk], reveal.Z_90)
        effect = reveal.vote_effect(state, first.pk, second.pk, True)
        assert effect["before"] == expected, (first, second)
        if expected:
            assert effect["after"] == expected - 1 and effect["status"] == "closer"
            assert reveal.vote_effect(state, first.pk, second.pk, False)["after"] == expected
    # And the board's own neighbour figures (what the leaderboard page prints) agree.
    for upper, lower, needed in state["neighbours"]:
        assert reveal.vote_effect(state, upper, lower, True)["before"] == needed


def test_votes_needed_drop_by_one_per_vote_on_the_pair():
    """The Sherman–Morrison step behind "now M": one more game on the pair lowers the need by one."""
    theta = np.array([0.4, 0.0, -0.4])
    games = {(1, 2): 30, (2, 3): 25, (1, 3): 10}
    state = {"theta": {k + 1: float(t) for k, t in enumerate(theta)}, "pairs": dict(games)}
    before = reveal.vote_effect(state, 1, 2, True)["before"]
    assert before and before > 1
    state["pairs"][(1, 2)] += 1
    again = reveal.vote_effect(state, 1, 2, True)["before"]
    assert again == before - 1


def test_a_board_is_prepared_once_for_all_the_votes_that_read_it():
    """Every vote until the next refresh reads the same published board (a new copy from the cache
    each time): its covariance is built once, and rebuilt when the board or the prior changes."""
    def state():
        return {"theta": {1: 0.3, 2: 0.0, 3: -0.2}, "pairs": {(1, 2): 12, (2, 3): 9}}

    first = reveal._board_separation(state())
    assert reveal._board_separation(state()) is first
    changed = state()
    changed["pairs"][(1, 2)] = 13
    assert reveal._board_separation(changed) is not first
    first = reveal._board_separation(state())
    with override_settings(ARENA={**settings.ARENA, "LEADERBOARD_PRIOR_SD": settings.ARENA["LEADERBOARD_PRIOR_SD"] * 2}):
        assert reveal._board_separation(state()) is not first
