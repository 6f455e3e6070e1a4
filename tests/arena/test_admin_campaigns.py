"""The campaign admin (arena/admin_campaigns.py): dates, targets, reward rule and models in one form."""
from __future__ import annotations

import pytest
from django.urls import reverse

from arena.models import Campaign, CampaignModel
from tests.arena.factories import make_campaign, make_models

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_campaign_with_its_models_and_targets(admin_client):
    alpha, beta = make_models(2)
    response = admin_client.post(reverse("admin:arena_campaign_add"), {
        "slug": "negua", "title_eu": "Negua", "title_es": "", "title_en": "Winter",
        "description_eu": "", "description_es": "", "description_en": "",
        "starts_at_0": "2026-12-01", "starts_at_1": "00:00:00", "ends_at_0": "2027-01-01", "ends_at_1": "00:00:00",
        "vote_target": "1000", "votes_per_raffle_entry": "10", "reward_eu": "", "reward_es": "", "reward_en": "",
        "entries-TOTAL_FORMS": "2", "entries-INITIAL_FORMS": "0", "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
        "entries-0-model": str(alpha.pk), "entries-0-vote_target": "300",
        "entries-1-model": str(beta.pk), "entries-1-vote_target": "200",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(slug="negua")
    assert campaign.votes_per_raffle_entry == 10
    assert dict(CampaignModel.objects.filter(campaign=campaign).values_list("model_id", "vote_target")) == {
        alpha.pk: 300, beta.pk: 200}


def test_the_list_says_which_campaign_runs(admin_client):
    make_campaign("orain")
    response = admin_client.get(reverse("admin:arena_campaign_changelist"))
    assert response.status_code == 200 and "orain" in response.content.decode()
    assert 'alt="True"' in response.content.decode()  # the running-now column
