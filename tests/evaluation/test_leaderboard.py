"""Benchmarks table, Basque average, arena scores from votes and the page itself."""
import re

import pytest
from django.utils import timezone

from arena.models import Battle, Participant, Vote
from evaluation import selectors, services, suites
from evaluation.models import EvaluationRun
from evaluation.runner import Outcome, Score
from models_serving.models import ServedModel

pytestmark = pytest.mark.django_db


def _store(model_label, values, *, limit=None):
    """A succeeded run with the given headline values (benchmark name -> value)."""
    run = services.create_run(model_label=model_label, limit=limit)
    scores = [Score(task=suites.BY_NAME[name].local_name, benchmark=name, metric=suites.BY_NAME[name].metric,
                    filter="none", value=value, stderr=0.01, num_fewshot=5, n_samples=100,
                    is_group=name == "eus_exams_eu", task_version="0.0") for name, value in values.items()]
    # A non-headline metric must not leak into the table.
    scores.append(Score(task="eus_exams_eu_local", benchmark="eus_exams_eu", metric="acc_norm", filter="none",
                        value=0.99, stderr=None, num_fewshot=5, n_samples=100, is_group=True, task_version="0.0"))
    services.store_outcome(run, Outcome(scores=scores, results={"results": {}}, n_items=100, seconds=10.0))
    return run


def _all(value):
    return {b.name: value for b in suites.BENCHMARKS}


def test_rows_use_headline_metrics_average_and_prefer_full_runs():
    ServedModel.objects.create(public_name="Latxa", kind="external", endpoint_url="http://x/v1")
    _store("Latxa", _all(0.5))
    _store("Latxa", _all(0.9), limit=10)  # newer but limited: the full run wins
    partial = _store("Small", {"eus_trivia": 0.4, "bec2016eu": 0.6})
    failed = services.create_run(model_label="Broken")
    services.mark_failed(failed, "boom")
    rows = {row.model: row for row in selectors.benchmark_rows()}
    assert set(rows) == {"Latxa", "Small"}
    latxa = rows["Latxa"]
    assert latxa.cells() == [0.5] * len(suites.BENCHMARKS) and latxa.complete and not latxa.limited
    assert latxa.average == pytest.approx(0.5)
    small = rows["Small"]
    assert small.average == pytest.approx(0.5) and not small.complete
    assert small.runs == {"eus_trivia": partial.pk, "bec2016eu": partial.pk}
    assert selectors.benchmark_averages() == {"Latxa": pytest.approx(0.5)}


def _vote_models(model_a, model_b):
    """Newer arena schemas copy the battle's models onto the vote; older ones do not."""
    fields = {f.name for f in Vote._meta.get_fields()}
    return {"model_a": model_a, "model_b": model_b} if {"model_a", "model_b"} <= fields else {}


def _battle_votes(participant, model_a, model_b, choices):
    for content, language, overall in choices:
        battle = Battle.objects.create(participant=participant, model_a=model_a, model_b=model_b,
                                       status=Battle.Status.VOTED)
        Vote.objects.create(battle=battle, participant=participant, content=content, language=language,
                            overall=overall, **_vote_models(model_a, model_b))


def test_vote_win_rates_and_correlation_per_dimension():
    participant = Participant.objects.create(basque_level="native", education="university", consent_version="v1",
                                             consented_at=timezone.now())
    a, b, c = (ServedModel.objects.create(public_name=name, kind="external", endpoint_url="http://x/v1")
               for name in ("A-model", "B-model", "C-model"))
    _battle_votes(participant, a, b, [("A", "A", "A"), ("A", "tie", "both_bad")])
    _battle_votes(participant, b, c, [("A", "B", "A")])
    _battle_votes(participant, a, c, [("A", "A", "tie")])
    excluded = Battle.objects.create(participant=participant, model_a=c, model_b=a, status=Battle.Status.VOTED)
    Vote.objects.create(battle=excluded, participant=participant, content="A", language="A", overall="A",
                        excluded=True, **_vote_models(c, a))
    content = selectors.vote_win_rates("content")
    assert content == {"A-model": 1.0, "B-model": pytest.approx(1 / 3), "C-model": 0.0}
    assert selectors.vote_win_rates("overall")["A-model"] == pytest.approx((1 + 0.5 + 0.5) / 3)

    for name, value in (("A-model", 0.6), ("B-model", 0.5), ("C-model", 0.4)):
        _store(name, _all(value))
    rows = {r["dimension"]: r for r in selectors.correlations(arena_source=selectors.vote_win_rates)}
    assert list(rows) == ["content", "language", "overall"]
    assert rows["content"]["spearman"] == pytest.approx(1.0) and rows["content"]["n"] == 3
    assert rows["content"]["kendall_p"] is not None


def test_arena_hook_is_used_when_the_arena_provides_it(monkeypatch):
    import arena.selectors

    monkeypatch.setattr(arena.selectors, "leaderboard_scores", lambda dimension: {"X": 1200, "Y": 1100}, raising=False)
    assert selectors.arena_scores("overall") == {"X": 1200.0, "Y": 1100.0}


@pytest.fixture
def benchmarks_url(settings):
    settings.LANGUAGE_CODE = "en"  # the assertions read English strings
    return "/benchmarks/"


def test_page_shows_table_average_and_correlations(client, benchmarks_url):
    for name, value in (("Model-1", 0.61), ("Model-2", 0.52), ("Model-3", 0.43)):
        _store(name, _all(value))
    _store("Sampled", {"eus_trivia": 0.3}, limit=5)
    page = client.get(benchmarks_url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    for bench in suites.BENCHMARKS:
        assert bench.label in html
    assert "Model-1" in html and re.search(r"0[.,]610", html) and "†" in html  # decimal mark per locale
    assert "Spearman" in html and "Kendall" in html
    # No votes yet: each dimension explains why there is no coefficient.
    assert html.count("at least 3 are needed") == 3


def test_page_with_no_results(client, benchmarks_url):
    page = client.get(benchmarks_url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "No benchmark results yet." in page.content.decode()


def test_run_status_is_for_staff_only(client, admin_client, benchmarks_url):
    run = services.create_run(model_label="Latxa")
    url = f"/benchmarks/runs/{run.pk}/status/"
    assert client.get(url).status_code == 302  # to the admin login
    data = admin_client.get(url).json()
    assert data["status"] == "pending" and data["finished"] is False
    assert EvaluationRun.objects.count() == 1
