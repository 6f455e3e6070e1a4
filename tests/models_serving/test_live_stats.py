"""Live figures per model, from the arena's stored answers of the last hour."""
from __future__ import annotations

from models_serving import live_stats
from models_serving.models import ServedModel
from tests.models_serving.factories import timed_answers


def test_medians_and_errors_of_the_last_hour(db):
    a = ServedModel.objects.create(public_name="Alfa", kind="vllm_base", checkpoint_path="/x")
    b = ServedModel.objects.create(public_name="Beta", kind="external", endpoint_url="http://127.0.0.1:9/v1")
    timed_answers(a, b)
    figures = live_stats.live_figures()
    assert figures[a.pk].median_ttft_ms == 200 and figures[a.pk].median_tokens_per_s == 20.0
    assert (figures[a.pk].errors, figures[a.pk].answers) == (1, 3)
    assert figures[b.pk].median_tokens_per_s == 20.0 and figures[b.pk].errors == 0


def test_figures_for_reads_a_snapshot_until_it_is_forgotten(db):
    a = ServedModel.objects.create(public_name="Alfa", kind="vllm_base", checkpoint_path="/x")
    b = ServedModel.objects.create(public_name="Beta", kind="external", endpoint_url="http://127.0.0.1:9/v1")
    live_stats.forget()
    assert live_stats.figures_for(a.pk) == live_stats.LiveFigures()
    timed_answers(a, b)
    assert live_stats.figures_for(a.pk).answers == 0  # at most 10 s old: one query per admin page
    live_stats.forget()
    assert live_stats.figures_for(a.pk).answers == 3
