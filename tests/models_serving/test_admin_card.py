"""The public card's fields (shown after the vote: arena/reveal.py) in the ServedModel admin, for every kind."""
from __future__ import annotations

import pytest
from django.urls import reverse

from models_serving.models import ServedModel

CARD_FIELDS = ("backbone", "parameters", "adaptation", "energy_wh_per_1k_tokens", "energy_source")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [kind.value for kind in ServedModel.Kind])
def test_card_fields_on_every_kinds_change_page(admin_client, kind):
    base = ServedModel.objects.create(public_name="Oinarria", kind=ServedModel.Kind.VLLM_BASE)
    model = ServedModel.objects.create(public_name="Proba", kind=kind,
                                       base_model=base if kind == ServedModel.Kind.VLLM_LORA else None)
    html = admin_client.get(reverse("admin:models_serving_servedmodel_change", args=[model.pk])).content.decode()
    for field in CARD_FIELDS:
        assert f'name="{field}"' in html, (kind, field)


@pytest.mark.django_db
def test_card_fields_on_the_add_page(admin_client):
    html = admin_client.get(reverse("admin:models_serving_servedmodel_add")).content.decode()
    for field in CARD_FIELDS:
        assert f'name="{field}"' in html
