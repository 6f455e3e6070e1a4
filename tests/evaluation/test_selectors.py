"""The benchmarks table, the Basque average, and its correlation with the arena's real leaderboard."""
import pytest
from django.utils import translation

from arena.vocabulary import DIMENSIONS
from evaluation import selectors, services
from models_serving.models import ServedModel

# Every test reads the leaderboard, whose cache outlives the test database.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_ranking_cache")]


GLUE = ["bec2016eu", "bhtc_v2", "epec_koref_bin", "qnlieu", "vaxx_stance", "wiceu"]


def test_rows_use_headline_metrics_and_keep_basqueglue_as_its_own_average(store_scores):
    ServedModel.objects.create(public_name="Latxa", kind="external", endpoint_url="http://x/v1")
    store_scores("Latxa", 0.5)
    partial = store_scores("Small", {"eus_trivia": 0.4, "bec2016eu": 0.6})
    failed = services.create_run(model_label="Broken")
    services.mark_failed(failed, "boom")
    table = selectors.benchmark_table()
    rows = {row.model: row for row in table.rows}
    assert set(rows) == {"Latxa", "Small"}
    assert [m.benchmark for m in table.columns] == ["eus_exams_eu", "eus_trivia", *GLUE]  # only those with scores
    study, glue = rows["Latxa"].averages()
    # The acc_norm of 0.99 stored beside EusExams' acc is ignored; two of the study's 14 tasks: marked partial.
    assert study.value == pytest.approx(0.5) and study.covered == ("eus_exams_eu", "eus_trivia")
    assert not study.complete
    assert glue.value == pytest.approx(0.5) and glue.complete and glue.covered == tuple(GLUE)
    small_study, small_glue = rows["Small"].averages()
    assert (small_study.value, small_glue.value) == (pytest.approx(0.4), pytest.approx(0.6))
    assert rows["Small"].runs == {"eus_trivia": partial.pk, "bec2016eu": partial.pk}


def test_the_table_averages_only_runs_of_one_protocol_and_says_which(store_scores):
    """A --limit 5 run used to beat a --limit 200 one, and 0-shot runs mixed into a 5-shot average."""
    store_scores("Latxa", {"eus_trivia": 0.5, "wiceu": 0.5})
    store_scores("Latxa", {"eus_trivia": 0.9, "wiceu": 0.7}, limit=5)
    store_scores("Latxa", {"eus_exams_eu": 0.1}, num_fewshot=0)
    store_scores("Latxa", {"eus_exams_eu": 0.2}, apply_chat_template=True)
    store_scores("Other", {"eus_trivia": 0.3}, limit=5)
    table = selectors.benchmark_table()
    assert table.protocol == "5-shot · first 5 items · auto"  # the protocol most models have
    assert dict(table.protocols) == {"5-shot · first 5 items · auto": 2, "5-shot · all items · auto": 1,
                                     "0-shot · all items · auto": 1, "5-shot · chat template · all items · auto": 1}
    full = {row.model: row for row in selectors.benchmark_table("5-shot · all items · auto").rows}
    assert full["Latxa"].scores == {"eus_trivia": 0.5, "wiceu": 0.5}  # no limited, 0-shot or chat-template score
    limited = {row.model: row.scores for row in table.rows}
    assert limited == {"Latxa": {"eus_trivia": 0.9, "wiceu": 0.7}, "Other": {"eus_trivia": 0.3}}
    assert selectors.benchmark_table("no such protocol").protocol == table.protocol


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
    store_scores("Fewer-tasks", {"eus_trivia": 0.9})  # its average covers other tasks: not compared
    study, glue = selectors.correlations()
    assert study["covered"] == ("eus_exams_eu", "eus_trivia") and not study["complete"]
    assert glue["complete"] and glue["dimensions"][0]["models"] == ["A-model", "B-model", "C-model"]
    rows = {row["dimension"]: row for row in study["dimensions"]}
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
    for average in selectors.correlations():
        for row in average["dimensions"]:
            assert row["n"] == 0 and row["spearman"] is None and "at least 3" in row["message"]
