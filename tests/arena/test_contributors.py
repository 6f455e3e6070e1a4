"""Recognition reads (arena/contributors.py): streaks, raffle entries, places, excluded votes in plain
words, and the public board that only shows opted-in nicknames."""
from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from arena import contributors
from arena.models import Participant, Vote
from tests.arena.factories import add_campaign_votes, add_votes, make_campaign, make_models, make_voter

D = dt.date


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("days, today, expected", [
    ([], D(2026, 11, 30), (0, 0)),
    ([D(2026, 11, 30)], D(2026, 11, 30), (1, 1)),
    ([D(2026, 11, 29)], D(2026, 11, 30), (1, 1)),  # yesterday's run is still alive today
    ([D(2026, 11, 28)], D(2026, 11, 30), (0, 1)),  # a whole day without a vote ends it
    ([D(2026, 11, 27), D(2026, 11, 28), D(2026, 11, 29), D(2026, 11, 30)], D(2026, 11, 30), (4, 4)),
    ([D(2026, 11, 1), D(2026, 11, 2), D(2026, 11, 3), D(2026, 11, 29), D(2026, 11, 30)], D(2026, 11, 30), (2, 3)),
    ([D(2026, 2, 28), D(2026, 3, 1), D(2026, 3, 1)], D(2026, 3, 2), (2, 2)),  # month end, duplicates
    ([D(2025, 12, 31), D(2026, 1, 1)], D(2026, 1, 10), (0, 2)),  # across the new year
])
def test_streaks(days, today, expected):
    assert contributors.streaks(days, today) == expected


@pytest.mark.parametrize("votes, per, expected", [
    (0, 2, (0, 2)), (1, 2, (0, 1)), (2, 2, (1, 2)), (5, 2, (2, 1)), (19, 10, (1, 1)), (20, 10, (2, 10)),
    (7, 1, (7, 1)), (7, None, None), (7, 0, None),
])
def test_raffle_entries(votes, per, expected):
    assert contributors.raffle_entries(votes, per) == expected


def test_competition_ranks_share_places_on_ties():
    assert contributors.competition_ranks([9, 7, 7, 3, 3, 3, 1]) == [1, 2, 2, 4, 4, 4, 7]
    assert contributors.competition_ranks([]) == []


# ---------------------------------------------------------------- queries


def person(username: str, *, nickname: str = "", show: bool = False) -> Participant:
    user = get_user_model().objects.create_user(username=username)
    return Participant.objects.create(user=user, basque_level="C1-C2", education="university", consent_version="v1",
                                      consented_at=timezone.now(), nickname=nickname, show_on_board=show)


@pytest.mark.django_db
def test_streak_days_are_madrid_calendar_days():
    models = make_models(2)
    voter = make_voter()
    # 23:30 UTC on the 28th is already the 29th in Madrid; 22:30 UTC on the 29th is still the 29th.
    add_votes([(models[0], models[1], "A", "A", "A")], participant=voter, when=dt.datetime(2026, 11, 28, 23, 30, tzinfo=dt.UTC))
    add_votes([(models[0], models[1], "A", "A", "A")], participant=voter, when=dt.datetime(2026, 11, 29, 22, 30, tzinfo=dt.UTC))
    add_votes([(models[0], models[1], "A", "A", "A")], participant=voter, when=dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))
    assert contributors.vote_days(voter) == [D(2026, 11, 29), D(2026, 11, 30)]
    mine = contributors.contributions(voter, None, now=dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    assert (mine.current_streak, mine.longest_streak) == (2, 2)


@pytest.mark.django_db
def test_contributions_count_valid_and_excluded_votes_with_reasons_and_raffle_entries():
    models = make_models(2)
    campaign = make_campaign("zozketa", votes_per_raffle_entry=2)
    voter = person("ane_erabiltzailea", nickname="Ane", show=True)
    add_campaign_votes(campaign, voter, models, 5)
    add_votes([(models[0], models[1], "A", "A", "A")] * 2, participant=voter)  # before the campaign: no entries
    add_campaign_votes(campaign, voter, models, 2, excluded=True, reasons=["too_short", "daily_cap"])
    add_campaign_votes(campaign, voter, models, 1, excluded=True, reasons=[])  # an admin's: counts as manual
    mine = contributors.contributions(voter, campaign)
    assert (mine.valid, mine.excluded, mine.campaign_valid) == (7, 3, 5)
    assert mine.raffle == (2, 1)  # 5 valid votes // 2, one more for the third
    reasons = {reason["code"]: reason["count"] for reason in mine.reasons}
    assert reasons == {"too_short": 2, "daily_cap": 2, "manual": 1}
    assert all(str(reason["label"]) for reason in mine.reasons)
    assert (mine.place, mine.place_all_time) == (1, 1)


@pytest.mark.django_db
def test_no_raffle_without_a_rule_and_no_place_without_opting_in():
    models = make_models(2)
    campaign = make_campaign("saririk-gabe")
    voter = person("jon_erabiltzailea", nickname="Jon", show=False)
    add_campaign_votes(campaign, voter, models, 3)
    mine = contributors.contributions(voter, campaign)
    assert mine.raffle is None and mine.place is None and mine.place_all_time is None


@pytest.mark.django_db
def test_the_board_shows_only_opted_in_active_nicknames_ranked_by_valid_votes():
    models = make_models(2)
    campaign = make_campaign("taula")
    ane = person("ane_secret_user", nickname="Ane", show=True)
    jon = person("jon_secret_user", nickname="Jon", show=True)
    miren = person("miren_secret_user", nickname="Miren", show=False)  # did not opt in
    banned = person("banned_secret_user", nickname="Debekatua", show=True)
    gone = person("gone_secret_user", nickname="Joana", show=True)
    no_votes = person("idle_secret_user", nickname="Geldirik", show=True)
    add_campaign_votes(campaign, ane, models, 3)
    add_votes([(models[0], models[1], "A", "A", "A")] * 4, participant=ane)  # outside the campaign
    add_campaign_votes(campaign, jon, models, 3)
    add_campaign_votes(campaign, jon, models, 9, excluded=True, reasons=["judge_outlier"])  # not valid
    add_campaign_votes(campaign, miren, models, 20)
    for someone in (banned, gone):
        add_campaign_votes(campaign, someone, models, 50)
    Participant.objects.filter(pk=banned.pk).update(banned_at=timezone.now())
    Participant.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    assert contributors.board(campaign) == [{"rank": 1, "nickname": "Ane", "votes": 3},
                                            {"rank": 1, "nickname": "Jon", "votes": 3}]
    assert contributors.board(None) == [{"rank": 1, "nickname": "Ane", "votes": 7},
                                        {"rank": 2, "nickname": "Jon", "votes": 3}]
    assert contributors.place_on_board(jon, None) == 2 and contributors.place_on_board(jon, campaign) == 1
    assert contributors.place_on_board(miren, campaign) is None and contributors.place_on_board(no_votes, None) is None
    assert Vote.objects.filter(participant=miren).count() == 20
