"""The public leaderboard page: tables per dimension, filters, messages, plots and downloads."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.urls import reverse

from arena.ranking import cache as ranking_cache
from tests.arena.conftest import arena_config
from tests.arena.factories import add_votes, make_models, make_voter, synthetic_rows

URL = reverse("arena:leaderboard")


@pytest.fixture(autouse=True)
def quick_and_clean(settings):
    settings.ARENA = {**settings.ARENA, "LEADERBOARD_BOOTSTRAP_ROUNDS": 100}
    keys = [ranking_cache.GENERATION_KEY, ranking_cache.DIRTY_KEY, ranking_cache.THROTTLE_KEY,
            ranking_cache.SAMPLING_STATE_KEY]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def get(client, language: str = "en", **params):
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language  # the site ignores Accept-Language (Basque first)
    return client.get(URL, params)


@pytest.fixture
def five_models(db):
    models = make_models(5, prefix="Eredua")
    rng = np.random.default_rng(1)
    rows, *_ = synthetic_rows(models, np.linspace(-1, 1, 5), 400, rng)
    add_votes(rows, participant=make_voter(basque_level="native"))
    add_votes(rows[:30], participant=make_voter(basque_level="A1-A2"), excluded=True, reasons=["identity_leak"])
    return models


def test_page_shows_three_dimensions_with_scores_intervals_ranks_and_exclusions(client, five_models):
    page = get(client)
    assert page.status_code == 200
    html = page.content.decode()
    for heading in ("Overall", "Content", "Basque quality"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("Eredua-04") >= 3 and "90% interval" in html
    assert "400 votes counted." in html
    assert "30 votes were excluded by the quality checks" in html and "named its own model" in html
    assert "Computed in" in html and "Bootstrap: 100 rounds" in html
    section = page.context["sections"][0]
    assert section["name"] == "overall" and len(section["rows"]) == 5
    best = section["rows"][0]
    assert best["name"] == "Eredua-04" and best["rank"] == 1 and best["lower"] < best["rating"] < best["upper"]
    assert sum(row["votes"] for row in section["rows"]) == 800
    assert "plot=scores&amp;format=svg" in html and "Pairwise win rate" in html and "Battles per pair" in html


def test_filters_and_interval_options_change_the_result(client, five_models):
    default = get(client)
    narrow = default.context["sections"][0]["rows"][0]
    wide = get(client, confidence="95", method="sandwich").context["sections"][0]["rows"][0]
    assert wide["upper"] - wide["lower"] > narrow["upper"] - narrow["lower"]
    assert "400 votes counted." in default.content.decode()  # flagged votes left out by default
    included = get(client, flagged="include")
    assert "430 votes counted." in included.content.decode()
    assert "included on request" in included.content.decode()
    learners = get(client, basque_level="A1-A2")  # only flagged votes exist for this group
    assert "No votes match these filters yet." in learners.content.decode()


@pytest.mark.parametrize("params, message", [
    ({"basque_level": "Z9"}, "Select a valid choice"),
    ({"confidence": "99"}, "Select a valid choice"),
    ({"date_from": "yesterday"}, "Enter a valid date"),
    ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "The start date is after the end date."),
    ({"dimension": "vibes"}, "Select a valid choice"),
])
def test_unknown_filter_values_give_a_clear_message(client, db, params, message):
    page = get(client, **params)
    assert page.status_code == 400
    html = page.content.decode()
    assert "Some filter values are not valid" in html and message in html


def test_empty_arena_and_single_model_give_a_message(client, db):
    make_models(1)
    page = get(client)
    assert page.status_code == 200
    assert page.content.decode().count("No votes match these filters yet.") == 3
    assert get(client, plot="scores").status_code == 404


def test_one_vote_and_all_ties_are_explained(client, db):
    m1, m2, m3 = make_models(3)
    add_votes([(m1, m2, "tie", "tie", "both_bad")])
    html = get(client).content.decode()
    assert "Very few votes" in html and "Every vote is a tie" in html
    arena_config(both_bad_as_tie=False)
    html = get(client).content.decode()
    assert "both bad&#x27; votes are left out" in html or "both bad' votes are left out" in html


def test_plots_render_as_svg_and_png_and_download(client, five_models):
    svg = get(client, plot="scores", format="svg")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content and "Content-Disposition" not in svg
    png = get(client, plot="winrate", format="png", download="1")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert png["Content-Disposition"] == 'attachment; filename="leaderboard-overall-winrate.png"'
    counts = get(client, plot="counts", format="svg", dimension="language")
    assert counts.status_code == 200 and b"Eredua-00" in counts.content
    assert get(client, plot="pie").status_code == 400


@pytest.mark.parametrize("language, label", [("en", "excluded by an administrator"),
                                              ("eu", "administratzaile batek baztertua")])
def test_manual_exclusions_show_their_translated_label(client, db, language, label):
    m1, m2 = make_models(2)
    add_votes([(m1, m2, "A", "A", "A")] * 3)
    add_votes([(m1, m2, "B", "B", "B")] * 2, excluded=True, reasons=["manual"])
    add_votes([(m1, m2, "B", "B", "B")], excluded=True, reasons=[])  # excluded by hand before reasons existed
    page = get(client, language=language)
    assert [reason["count"] for reason in page.context["excluded"]] == [3]  # one reason: manual
    html = page.content.decode()
    assert f"{label} (3)" in html
    assert "manual" not in html.lower()  # never the stored code
