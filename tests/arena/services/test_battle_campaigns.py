"""Campaigns in the battle service (arena/services/battles.py ``_start_battle``, arena/services/votes.py ``_store_votes``):
the pair comes from the running campaign's models, refusals between campaigns, votes carry the campaign."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

from arena import services
from arena.models import Battle, Message, Vote
from tests.arena.factories import VALID, make_campaign, make_models

pytestmark = pytest.mark.django_db


def test_battles_draw_only_the_running_campaigns_models(participant):
    models = make_models(5, endpoint_url="http://127.0.0.1:9/v1")
    campaign = make_campaign("bi", models=models[1:3])
    drawn = set()
    for _ in range(25):
        battle = services.start_battle(participant=participant)
        assert battle.campaign == campaign
        drawn |= {battle.model_a_id, battle.model_b_id}
    assert drawn == {models[1].pk, models[2].pk}


def test_a_campaign_listing_no_models_draws_from_every_available_one(participant):
    models = make_models(4, endpoint_url="http://127.0.0.1:9/v1")
    make_campaign("denak")
    drawn = set()
    for _ in range(60):
        battle = services.start_battle(participant=participant)
        drawn |= {battle.model_a_id, battle.model_b_id}
    assert drawn == {model.pk for model in models}


def test_without_campaigns_battles_start_as_before_with_no_campaign(participant):
    make_models(2, endpoint_url="http://127.0.0.1:9/v1")
    assert services.start_battle(participant=participant).campaign is None


def test_between_campaigns_no_battle_starts_and_the_error_says_when_the_next_one_does(participant):
    make_models(2, endpoint_url="http://127.0.0.1:9/v1")
    now = timezone.now()
    make_campaign("lehena", starts=now - dt.timedelta(days=10), ends=now - dt.timedelta(days=1))
    make_campaign("bigarrena", starts=dt.datetime(2099, 3, 2, 11, 0, tzinfo=dt.UTC),
                  ends=dt.datetime(2099, 4, 2, tzinfo=dt.UTC))
    with pytest.raises(services.ArenaError) as refused:
        services.submit_prompt(participant=participant, battle_id=None, text="Kaixo")
    assert refused.value.code == "no_campaign"
    with translation.override("es"):
        assert "2 de marzo de 2099" in str(refused.value.message)
    assert not Battle.objects.exists() and not Message.objects.exists()  # nothing left behind


def test_a_listed_campaign_with_fewer_than_two_available_models_refuses_clearly(participant):
    models = make_models(3, endpoint_url="http://127.0.0.1:9/v1")
    make_campaign("bakarra", models=[models[0]])
    with pytest.raises(services.ArenaError) as refused:
        services.start_battle(participant=participant)
    assert refused.value.code == "no_models"


def test_the_vote_carries_its_battles_campaign_even_after_the_campaign_ended(participant):
    models = make_models(2, endpoint_url="http://127.0.0.1:9/v1")
    campaign = make_campaign("azaroa", models=models)
    battle = services.start_battle(participant=participant)
    Message.objects.create(battle=battle, turn=0, role="user", content="Kaixo")
    for side in "AB":
        Message.objects.create(battle=battle, turn=0, role="assistant", side=side, content=f"Kaixo {side}!")
    Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.READY)
    type(campaign).objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - dt.timedelta(seconds=1),
                                                         starts_at=timezone.now() - dt.timedelta(days=3))
    vote = services.cast_vote(battle_id=battle.pk, participant=participant, **VALID)
    assert Vote.objects.get(pk=vote.pk).campaign_id == campaign.pk
