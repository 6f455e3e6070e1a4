"""Campaign rules and reads (arena/campaigns.py): which campaign runs, which models it draws, how far it got."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

from arena import campaigns
from models_serving.models import ServedModel
from models_serving.selectors import available_models
from tests.arena.factories import add_campaign_votes, make_campaign, make_models, make_voter

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_the_running_campaign_is_the_one_that_started_last_among_those_open_now():
    make_campaign("old", starts=NOW - dt.timedelta(days=30), ends=NOW + dt.timedelta(days=30))
    newer = make_campaign("new", starts=NOW - dt.timedelta(days=2), ends=NOW + dt.timedelta(days=5))
    make_campaign("future", starts=NOW + dt.timedelta(days=6), ends=NOW + dt.timedelta(days=9))
    make_campaign("past", starts=NOW - dt.timedelta(days=60), ends=NOW - dt.timedelta(days=31))
    assert campaigns.running_campaign(NOW) == newer
    # ends_at is exclusive, starts_at inclusive
    assert campaigns.running_campaign(NOW + dt.timedelta(days=5)).slug == "old"
    assert campaigns.running_campaign(NOW + dt.timedelta(days=6)).slug == "future"


@pytest.mark.django_db
def test_without_any_campaign_the_arena_stays_open_and_unassigned():
    state = campaigns.campaign_state(NOW)
    assert state.open and state.campaign is None


@pytest.mark.django_db
@pytest.mark.parametrize("language, date", [("en", "Dec. 14, 2026, 10 a.m."), ("es", "14 de diciembre de 2026 a las 10:00"),
                                            ("eu", "2026ko abe. 14a, 10:00")])
def test_between_campaigns_the_message_names_the_next_start_in_the_readers_language(language, date):
    make_campaign("past", starts=NOW - dt.timedelta(days=9), ends=NOW - dt.timedelta(days=1))
    make_campaign("next", starts=dt.datetime(2026, 12, 14, 9, 0, tzinfo=dt.UTC), ends=NOW + dt.timedelta(days=40))
    state = campaigns.campaign_state(NOW)
    assert not state.open and state.next.slug == "next"
    with translation.override(language):
        message = str(state.closed_message)  # lazy: built in the language active when shown
    assert date in message and "10" in message  # 09:00 UTC is 10:00 in Madrid


@pytest.mark.django_db
def test_between_campaigns_with_none_planned_the_message_says_so():
    make_campaign("past", starts=NOW - dt.timedelta(days=9), ends=NOW - dt.timedelta(days=1))
    state = campaigns.campaign_state(NOW)
    assert not state.open and state.next is None
    with translation.override("en"):
        assert "none is planned" in str(state.closed_message)


@pytest.mark.django_db
def test_a_campaign_draws_from_its_listed_models_that_are_available_or_from_all_when_none_listed():
    alpha, beta, gamma, delta = make_models(4, endpoint_url="http://127.0.0.1:9/v1")
    ServedModel.objects.filter(pk=delta.pk).update(health=ServedModel.Health.UNHEALTHY)
    listed = make_campaign("listed", models=[alpha, gamma, delta])
    assert {m.pk for m in campaigns.campaign_pool(listed, available_models())} == {alpha.pk, gamma.pk}
    open_to_all = make_campaign("all", starts=NOW - dt.timedelta(days=400), ends=NOW - dt.timedelta(days=300))
    assert {m.pk for m in campaigns.campaign_pool(open_to_all, available_models())} == {alpha.pk, beta.pk, gamma.pk}
    assert {m.pk for m in campaigns.campaign_pool(None, available_models())} == {alpha.pk, beta.pk, gamma.pk}


@pytest.mark.django_db
def test_progress_counts_valid_votes_of_the_campaign_only_in_all_and_per_listed_model():
    alpha, beta, gamma = make_models(3)
    campaign = make_campaign("c", models=[alpha, beta, gamma], targets=[4, 0, 2], vote_target=10)
    other = make_campaign("other", starts=NOW - dt.timedelta(days=400), ends=NOW - dt.timedelta(days=300))
    voter = make_voter()
    add_campaign_votes(campaign, voter, [alpha, beta], 3)
    add_campaign_votes(campaign, voter, [gamma, beta], 2)
    add_campaign_votes(campaign, voter, [alpha, gamma], 4, excluded=True, reasons=["too_short"])
    add_campaign_votes(other, voter, [alpha, beta], 7)
    progress = campaigns.campaign_progress(campaign, now=campaign.ends_at - dt.timedelta(hours=30))
    assert (progress.votes, progress.target, progress.percent, progress.days_left) == (5, 10, 50, 2)
    per_model = {m.name: (m.votes, m.target, m.percent) for m in progress.models}
    assert per_model == {alpha.public_name: (3, 4, 75), beta.public_name: (5, 0, 0), gamma.public_name: (2, 2, 100)}
    frame = progress.frame()
    assert frame["campaign"] == "c" and frame["votes"] == 5 and frame["models"][str(alpha.pk)]["votes"] == 3


def test_percent_and_days_left_edge_cases():
    assert campaigns.percent(0, 0) == 0 and campaigns.percent(5, 0) == 0  # no target
    assert campaigns.percent(999, 1000) == 99 and campaigns.percent(1500, 1000) == 100
    class Ended:
        ends_at = timezone.now() - dt.timedelta(seconds=1)
    assert campaigns.days_left(Ended()) == 0
