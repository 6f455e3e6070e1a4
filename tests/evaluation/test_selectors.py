"""The benchmarks table, the Basque average, and its correlation with the arena's real leaderboard."""
import pytest
from django.utils import translation

from arena.vocabulary import DIMENSIONS
from evaluation import selectors, services, suites
from models_serving.models import ServedModel

# Every test reads the leaderboard, whose cache outlives the test database.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_ranking_cache")]


def test_rows_use_headline_metrics_average_and_prefer_full_runs(store_scores):
    ServedModel.objects.create(public_name="Latxa", kind="external", endpoint_url="http://x/v1")
    store_scores("Latxa", 0.5)
    store_scores("Latxa", 0.9, limit=10)  # newer but limited: the full run wins
    partial = store_scores("Small", {"eus_trivia": 0.4, "bec2016eu": 0.6})
    failed = services.create_run(model_label="Broken")
    services.mark_failed(failed, "boom")
    rows = {row.model: row for row in selectors.benchmark_rows()}
    assert set(rows) == {"Latxa", "Small"}
    latxa = rows["Latxa"]
    assert latxa.cells() == [0.5] * len(suites.benchmarks()) and latxa.complete and not latxa.limited
    assert latxa.average == pytest.approx(0.5)  # the acc_norm of 0.99 stored beside EusExams' acc is ignored
    small = rows["Small"]
    assert small.average == pytest.approx(0.5) and not small.complete
    assert small.cells()[:3] == [0.4, None, 0.6]
    assert small.runs == {"eus_trivia": partial.pk, "bec2016eu": partial.pk}
    assert selectors.benchmark_averages() == {"Latxa": pytest.approx(0.5)}


def test_a_limited_run_fills_the_gaps_of_a_full_one_and_is_marked(store_scores):
    store_scores("Latxa", {"eus_trivia": 0.5})
    store_scores("Latxa", {"eus_trivia": 0.9, "wiceu": 0.7}, limit=5)
    row = selectors.benchmark_rows()[0]
    assert row.scores["eus_trivia"] == 0.5 and row.scores["wiceu"] == 0.7 and row.limited


def _models(*names):
    return [ServedModel.objects.create(public_name=name, kind="external", endpoint_url="http://x/v1", health="healthy")
            for name in names]


def test_arena_scores_are_the_leaderboards_bradley_terry_ratings(arena_votes):
    a, b, c = _models("A-model", "B-model", "C-model")
    # Content: A > B > C. Basque quality: the reverse. Overall: B first.
    arena_votes([(a, b, "A", "B", "B")] * 3 + [(a, b, "B", "tie", "B")]
                + [(b, c, "A", "B", "A")] * 3 + [(b, c, "tie", "B", "A")]
                + [(a, c, "A", "B", "A")] * 4)
    # Flagged votes are left out of the public board, so they cannot change the order.
    arena_votes([(c, a, "A", "B", "A")] * 20, excluded=True, reasons=["manual"])
    content, language, overall = (selectors.arena_scores(dim) for dim in ("content", "language", "overall"))
    assert sorted(content, key=content.get, reverse=True) == ["A-model", "B-model", "C-model"]
    assert sorted(language, key=language.get, reverse=True) == ["C-model", "B-model", "A-model"]
    assert max(overall, key=overall.get) == "B-model"
    assert all(isinstance(value, float) for value in content.values())


def test_correlations_cover_every_arena_dimension(arena_votes, store_scores):
    a, b, c, d = _models("A-model", "B-model", "C-model", "No-benchmarks")
    arena_votes([(a, b, "A", "B", "A")] * 3 + [(b, c, "A", "B", "A")] * 3 + [(a, c, "A", "B", "A")] * 3
                + [(d, a, "A", "A", "A")] * 2)
    for name, value in (("A-model", 0.6), ("B-model", 0.5), ("C-model", 0.4)):
        store_scores(name, value)
    store_scores("Only-benchmarks", 0.3)
    rows = {row["dimension"]: row for row in selectors.correlations()}
    assert list(rows) == list(DIMENSIONS)
    with translation.override("en"):
        assert str(rows["language"]["label"]) == "Basque quality"  # the arena's own label for the dimension
    assert rows["content"]["models"] == ["A-model", "B-model", "C-model"]  # only models with both scores
    assert rows["content"]["spearman"] == pytest.approx(1.0) and rows["content"]["kendall"] == pytest.approx(1.0)
    assert rows["language"]["spearman"] == pytest.approx(-1.0)
    assert rows["overall"]["kendall_p"] is not None


def test_without_votes_no_dimension_has_a_coefficient(store_scores):
    for name, value in (("A-model", 0.6), ("B-model", 0.5), ("C-model", 0.4)):
        store_scores(name, value)
    for row in selectors.correlations():
        assert row["n"] == 0 and row["spearman"] is None and "at least 3" in row["message"]
