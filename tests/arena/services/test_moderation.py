"""arena/services/moderation.py: each change logged with moderator and reason; the ban stops new prompts."""
from __future__ import annotations

import pytest
from django.utils import translation
from django.contrib.auth import get_user_model

from arena import services
from arena.models import Battle, Message, ModerationAction
from arena.services import moderation
from arena.services.errors import ArenaError
from tests.arena.factories import ready_battle


@pytest.fixture
def moderator(db):
    return get_user_model().objects.create_user("moderatzailea", password="x" * 16, is_staff=True)


@pytest.mark.django_db
def test_flag_and_hide_are_logged_once_per_change(participant, echo_models, moderator):
    battle = ready_battle(participant, echo_models)
    assert moderation.flag_battles(battle_ids=[battle.pk], moderator=moderator, reason="  Iraingarria  ") == 1
    assert moderation.flag_battles(battle_ids=[battle.pk], moderator=moderator, reason="berriz") == 0  # no change
    assert moderation.set_battles_hidden(battle_ids=[battle.pk], hidden=True, moderator=moderator, reason="NANa") == 1
    battle.refresh_from_db()
    assert battle.flagged and battle.hidden
    assert moderation.set_battles_hidden(battle_ids=[battle.pk], hidden=False, moderator=moderator, reason="ados") == 1
    battle.refresh_from_db()
    assert not battle.hidden
    log = list(ModerationAction.objects.order_by("id").values_list("action", "battle_id", "participant_id",
                                                                  "moderator_id", "reason"))
    assert log == [("flag", battle.pk, participant.pk, moderator.pk, "Iraingarria"),
                   ("hide", battle.pk, participant.pk, moderator.pk, "NANa"),
                   ("unhide", battle.pk, participant.pk, moderator.pk, "ados")]


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_reason_is_required_and_nothing_changes_without_one(participant, echo_models, moderator, reason):
    battle = ready_battle(participant, echo_models)
    with pytest.raises(ArenaError) as refused:
        moderation.set_battles_hidden(battle_ids=[battle.pk], hidden=True, moderator=moderator, reason=reason)
    assert refused.value.code == "reason_required"
    with pytest.raises(ArenaError):
        moderation.set_participants_banned(participant_ids=[participant.pk], banned=True, moderator=moderator,
                                           reason=reason)
    battle.refresh_from_db()
    participant.refresh_from_db()
    assert not battle.hidden and participant.banned_at is None and not ModerationAction.objects.exists()


@pytest.mark.django_db
def test_ban_blocks_new_prompts_and_battles_and_unban_lifts_it(participant, echo_models, moderator):
    open_battle = ready_battle(participant, echo_models)
    assert moderation.set_participants_banned(participant_ids=[participant.pk], banned=True, moderator=moderator,
                                              reason="spam") == 1
    for battle_id in (None, open_battle.pk):  # neither a new battle nor a next turn
        with pytest.raises(ArenaError) as refused:
            services.submit_prompt(participant=participant, battle_id=battle_id, text="Kaixo berriro")
        with translation.override("en"):
            assert refused.value.code == "banned" and "moderator" in str(refused.value.message)
    with pytest.raises(ArenaError) as refused:
        services.begin_turn(battle_id=open_battle.pk, participant=participant, text="Kaixo")
    assert refused.value.code == "banned"
    assert Battle.objects.count() == 1 and Message.objects.filter(role="user").count() == 1  # nothing stored
    moderation.set_participants_banned(participant_ids=[participant.pk], banned=False, moderator=moderator,
                                       reason="barkatua")
    accepted = services.submit_prompt(participant=participant, battle_id=open_battle.pk, text="Kaixo berriro")
    assert accepted.battle_id == open_battle.pk
    assert list(ModerationAction.objects.order_by("id").values_list("action", flat=True)) == ["ban", "unban"]
