"""The public leaderboard page: tables per dimension, filters, messages, plots and downloads."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.urls import reverse

from arena.ranking import cache as ranking_cache
from tests.arena.conftest import arena_config
from tests.arena.factories import add_styled_votes, add_votes, make_models, make_voter, synthetic_rows

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


def test_one_vote_plot_renders_and_shows_wide_preliminary_intervals(client, db):
    """Defect (issue #12): with one vote the plot crashed and the table claimed 1401 – 1401."""
    m1, m2 = make_models(2)
    add_votes([(m1, m2, "A", "A", "A")])
    assert get(client, plot="scores", format="svg").status_code == 200
    page = get(client)
    section = page.context["sections"][0]
    assert section["rows"] == [] and len(section["preliminary_rows"]) == 2  # both preliminary, unranked
    for row in section["preliminary_rows"]:
        assert row["upper"] - row["lower"] > 300
    assert "Preliminary: fewer than 100 votes" in page.content.decode()


def test_preliminary_models_are_shown_apart_and_never_above_listed_ones(client, db, settings):
    settings.ARENA = {**settings.ARENA, "LEADERBOARD_MIN_VOTES": 50}
    strong, *others = make_models(4, prefix="Eredua")
    rng = np.random.default_rng(3)
    rows, *_ = synthetic_rows(others, np.zeros(3), 200, rng)
    add_votes(rows + [(strong, others[0], "A", "A", "A")] * 5)  # 5 wins only: the best rate, but preliminary
    section = get(client).context["sections"][0]
    assert [row["name"] for row in section["preliminary_rows"]] == ["Eredua-00"]
    assert "Eredua-00" not in [row["name"] for row in section["rows"]] and len(section["rows"]) == 3
    assert all(row["rank"] is not None for row in section["rows"])


def test_page_leads_in_plain_words_and_says_how_many_votes_would_separate_neighbours(client, five_models):
    html = get(client).content.decode()
    lead = html.index("leaderboard-lead")
    assert lead < html.index("<h2>Overall</h2>") < html.index("How the scores are computed")
    assert "100 points more means winning about 64 times out of 100" in html
    section = get(client).context["sections"][0]
    assert len(section["neighbours"]) == 4
    assert all(pair["votes"] is None or pair["votes"] >= 0 for pair in section["neighbours"])
    assert "would tell them apart" in html or "the votes already show it" in html


def test_the_page_says_when_it_lags_the_latest_votes(client, five_models):
    get(client)  # computes and caches the board
    m1, m2 = five_models[:2]
    add_votes([(m1, m2, "A", "A", "A")] * 3)
    page = get(client)
    assert page.context["lagging_votes"] == 3
    assert "3 newer votes are not counted yet" in page.content.decode()
    ranking_cache.refresh_leaderboard()
    assert get(client).context["lagging_votes"] == 0


def test_raw_and_style_controlled_scores_side_by_side_with_effects_in_plain_words(client, db):
    models = make_models(4, prefix="Eredua")
    add_styled_votes(models, np.random.default_rng(8), 800, tokens=[600, 200, 200, 200], length_effect=3.0,
                     left_bias=0.3)
    page = get(client)
    section = page.context["sections"][0]
    row = next(row for row in section["rows"] if row["name"] == "Eredua-00")
    assert row["style"]["rating"] < row["rating"] and row["style"]["change"] < 0  # its length no longer helps
    sentences = [effect["sentence"] for effect in section["style"]["effects"]]
    assert any(s.startswith("An answer twice as long as an equally good one wins") for s in sentences)
    assert not any("headings" in s for s in sentences)  # no answer had a heading: nothing to report
    assert section["style"]["effects"][0]["clear"]
    html = page.content.decode()
    assert "Style-controlled score" in html and "What style does to the votes" in html
    assert "the one shown on the left wins" in html


def test_paper_tables_download_as_csv_and_latex_also_by_group(client, five_models):
    table = get(client, table="csv")
    assert table.status_code == 200 and table["Content-Type"].startswith("text/csv")
    assert table["Content-Disposition"] == 'attachment; filename="leaderboard.csv"'
    lines = table.content.decode().splitlines()
    assert lines[0].startswith("group,dimension,rank,model,score") and len(lines) == 1 + 3 * 5
    grouped = get(client, table="tex", by="basque_level").content.decode()
    assert "\\begin{tabular}" in grouped and "(native)" in grouped
    assert get(client, table="pdf").status_code == 400
    assert "table=tex" in get(client).content.decode()


def test_boards_filter_by_prompt_topic_and_language(client, five_models):
    assert get(client, category="programazioa", prompt_language="eu").status_code == 200
    assert "No votes match these filters yet." in get(client, category="programazioa").content.decode()
    assert get(client, category="unknown-topic").status_code == 400
    assert get(client, prompt_language="xx").status_code == 400
