import math

import pytest

from evaluation.correlation import correlate


def test_identical_rankings_give_one():
    arena = {"a": 1000.0, "b": 1100.0, "c": 1200.0, "d": 1300.0}
    bench = {"a": 0.30, "b": 0.35, "c": 0.50, "d": 0.60}
    result = correlate(arena, bench)
    assert result["n"] == 4
    assert result["spearman"] == pytest.approx(1.0)
    assert result["kendall"] == pytest.approx(1.0)
    assert 0.0 <= result["spearman_p"] < 0.1
    assert result["message"] == ""


def test_reversed_rankings_give_minus_one():
    result = correlate({"a": 1, "b": 2, "c": 3}, {"a": 0.9, "b": 0.5, "c": 0.1})
    assert result["spearman"] == pytest.approx(-1.0)
    assert result["kendall"] == pytest.approx(-1.0)


def test_matches_hand_computed_values_on_common_models_only():
    # One discordant pair among 5 models: tau = (9 - 1) / 10; rho = 1 - 6*2/(5*24) = 0.9.
    arena = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "only-arena": 9}
    bench = {"a": 0.1, "b": 0.2, "c": 0.4, "d": 0.3, "e": 0.5, "only-bench": 0.0}
    result = correlate(arena, bench)
    assert result["models"] == ["a", "b", "c", "d", "e"]
    assert result["spearman"] == pytest.approx(0.9)
    assert result["kendall"] == pytest.approx(0.8)


@pytest.mark.parametrize("bench", [{}, {"a": 0.1}, {"a": 0.1, "b": 0.2}, {"a": 0.1, "b": 0.2, "c": math.nan}])
def test_fewer_than_three_common_models_explains_itself(bench):
    result = correlate({"a": 1.0, "b": 2.0, "c": 3.0}, bench)
    assert result["spearman"] is None and result["kendall"] is None and result["spearman_p"] is None
    assert "at least 3" in result["message"]
    assert result["n"] == len([v for v in bench.values() if not math.isnan(v)])


def test_constant_scores_are_undefined_not_nan():
    result = correlate({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.5, "b": 0.5, "c": 0.5})
    assert result["spearman"] is None
    assert "same score" in result["message"]
