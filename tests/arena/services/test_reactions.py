"""arena/services/reactions.py: a toggle per (answer, kind), only on the volunteer's own answers, rate-safe."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from arena.models import Reaction
from arena.services import reactions
from arena.services.errors import ArenaError
from tests.arena.conftest import make_participant
from tests.arena.factories import ready_battle


@pytest.fixture(autouse=True)
def fresh_rate_window(participant):
    cache.delete(f"arena:reactions:{participant.pk}")
    yield
    cache.delete(f"arena:reactions:{participant.pk}")


@pytest.mark.django_db
def test_toggle_is_idempotent_per_kind(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    toggle = dict(participant=participant, battle_id=battle.pk, turn=0, side="B")
    assert reactions.toggle_reaction(**toggle, kind="mixed_languages") is True
    assert reactions.toggle_reaction(**toggle, kind="ignored_instruction") is True
    assert reactions.toggle_reaction(**toggle, kind="mixed_languages") is False
    assert list(Reaction.objects.values_list("message__side", "kind")) == [("B", "ignored_instruction")]


@pytest.mark.django_db
def test_only_own_answers_that_exist(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    other = make_participant("mikel")
    with pytest.raises(ArenaError) as refused:
        reactions.toggle_reaction(participant=other, battle_id=battle.pk, turn=0, side="A", kind="useful")
    assert refused.value.code == "not_found"
    for turn, side in ((1, "A"), (0, ""), (0, "user")):  # no second turn; the prompt is no answer
        with pytest.raises(ArenaError) as refused:
            reactions.toggle_reaction(participant=participant, battle_id=battle.pk, turn=turn, side=side, kind="useful")
        assert refused.value.code == "bad_answer"
    assert not Reaction.objects.exists()


@pytest.mark.django_db
def test_rate_limit_refuses_without_writing(participant, echo_models, monkeypatch):
    monkeypatch.setattr(reactions, "REACTIONS_PER_MINUTE", 3)
    battle = ready_battle(participant, echo_models)
    for _ in range(3):
        reactions.toggle_reaction(participant=participant, battle_id=battle.pk, turn=0, side="A", kind="wrong")
    with pytest.raises(ArenaError) as refused:
        reactions.toggle_reaction(participant=participant, battle_id=battle.pk, turn=0, side="A", kind="useful")
    assert refused.value.code == "rate_limited"
    assert list(Reaction.objects.values_list("kind", flat=True)) == ["wrong"]  # on, off, on; then refused
