"""arena/services/battles.py: an accepted prompt adds the kinds of personal data it seems to contain to
``Battle.privacy_flags`` (arena/privacy.py), as a sorted union over the battle's prompts."""
from __future__ import annotations

import pytest

from arena import services
from arena.models import Battle


@pytest.mark.django_db
def test_flags_grow_as_a_sorted_union(participant, echo_models):
    accepted = services.submit_prompt(participant=participant, battle_id=None,
                                      text="Idatzi ane@example.org helbidera, mesedez")
    battle = Battle.objects.get(pk=accepted.battle_id)
    assert battle.privacy_flags == ["email"]
    Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.READY)
    services.submit_prompt(participant=participant, battle_id=battle.pk, text="Deitu 612 34 56 78 zenbakira")
    battle.refresh_from_db()
    assert battle.privacy_flags == ["email", "phone"]
    Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.READY)
    services.begin_turn(battle_id=battle.pk, participant=participant, text="Berriz: beste@example.org")
    battle.refresh_from_db()
    assert battle.privacy_flags == ["email", "phone"]


@pytest.mark.django_db
def test_ordinary_prompts_leave_no_flag(participant, echo_models):
    accepted = services.submit_prompt(participant=participant, battle_id=None, text="Zer da bertsolaritza?")
    assert Battle.objects.get(pk=accepted.battle_id).privacy_flags == []
