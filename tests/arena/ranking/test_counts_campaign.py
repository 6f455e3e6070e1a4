"""The campaign filter of the leaderboard's vote counts (arena/ranking/counts.py ``VoteFilters.campaign``)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from arena.ranking.counts import VoteFilters, count_votes
from tests.arena.factories import add_campaign_votes, add_votes, make_campaign, make_models, make_voter


@pytest.mark.django_db
def test_campaign_filter_counts_only_that_campaigns_votes():
    m1, m2 = make_models(2)
    now = timezone.now()
    spring = make_campaign("udaberria", starts=now - dt.timedelta(days=90), ends=now - dt.timedelta(days=60))
    autumn = make_campaign("udazkena")
    voter = make_voter()
    add_campaign_votes(spring, voter, [m1, m2], 3)
    add_campaign_votes(autumn, voter, [m2, m1], 2)
    add_votes([(m1, m2, "B", "B", "B")], participant=voter)  # before campaigns existed
    total = lambda filters: count_votes(filters).dimensions["overall"].total  # noqa: E731
    assert total(VoteFilters()) == 6
    assert total(VoteFilters(campaign="udaberria")) == 3
    assert total(VoteFilters(campaign="udazkena")) == 2
    assert total(VoteFilters(campaign="no-such-campaign")) == 0
    # side A won every campaign vote: m1 three times (spring), m2 twice (autumn)
    assert count_votes(VoteFilters(campaign="udazkena")).dimensions["overall"].counts.tolist() == [[0, 0, 2]]


def test_campaign_is_part_of_the_cache_token():
    assert VoteFilters(campaign="a").cache_token() != VoteFilters(campaign="b").cache_token() != VoteFilters().cache_token()
