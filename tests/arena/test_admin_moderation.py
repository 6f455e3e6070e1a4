"""arena/admin_moderation.py: moderation from the battle and participant lists, each action confirmed with
a required reason and logged; the log itself is read-only."""
from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from arena.models import Battle, ModerationAction
from tests.arena.factories import ready_battle

BATTLES = reverse("admin:arena_battle_changelist")


@pytest.fixture(autouse=True)
def english_admin(admin_client, settings):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


@pytest.fixture
def battles(participant, echo_models):
    flagged = ready_battle(participant, echo_models)
    Battle.objects.filter(pk=flagged.pk).update(privacy_flags=["email", "phone"])
    plain = ready_battle(participant, echo_models)
    return flagged, plain


@pytest.mark.django_db
def test_list_filters_by_personal_data(admin_client, battles):
    flagged, plain = battles
    for value, shown, not_shown in (("any", flagged, plain), ("phone", flagged, plain), ("none", plain, flagged)):
        html = admin_client.get(BATTLES, {"personal_data": value}).content.decode()
        assert str(shown.pk) in html and str(not_shown.pk) not in html, value
    assert str(flagged.pk) not in admin_client.get(BATTLES, {"personal_data": "iban"}).content.decode()


@pytest.mark.django_db
def test_hide_asks_for_a_reason_then_logs_it(admin_client, admin_user, battles):
    flagged, plain = battles
    selection = {"action": "hide", ACTION_CHECKBOX_NAME: [str(flagged.pk)]}
    page = admin_client.post(BATTLES, selection)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert not Battle.objects.get(pk=flagged.pk).hidden  # nothing happens before the reason
    empty = admin_client.post(BATTLES, {**selection, "apply": "1", "reason": "  "})
    assert empty.status_code == 200 and "This field is required" in empty.content.decode()
    assert not ModerationAction.objects.exists()
    done = admin_client.post(BATTLES, {**selection, "apply": "1", "reason": "E-mail helbide erreala"}, follow=True)
    assert done.status_code == 200 and "1 changed" in done.content.decode()
    assert Battle.objects.get(pk=flagged.pk).hidden and not Battle.objects.get(pk=plain.pk).hidden
    action = ModerationAction.objects.get()
    assert (action.action, action.battle_id, action.moderator_id, action.reason) == (
        "hide", flagged.pk, admin_user.pk, "E-mail helbide erreala")


@pytest.mark.django_db
def test_ban_from_the_battle_list_bans_its_volunteer(admin_client, participant, battles):
    flagged, _plain = battles
    admin_client.post(BATTLES, {"action": "ban", ACTION_CHECKBOX_NAME: [str(flagged.pk)], "apply": "1",
                                "reason": "Zaborra behin eta berriz"})
    participant.refresh_from_db()
    assert participant.banned_at is not None
    assert ModerationAction.objects.get().participant_id == participant.pk
    participants = reverse("admin:arena_participant_changelist")
    admin_client.post(participants, {"action": "unban", ACTION_CHECKBOX_NAME: [str(participant.pk)], "apply": "1",
                                     "reason": "Akatsa izan zen"})
    participant.refresh_from_db()
    assert participant.banned_at is None
    assert list(ModerationAction.objects.order_by("id").values_list("action", flat=True)) == ["ban", "unban"]


@pytest.mark.django_db
def test_the_log_is_read_only(admin_client, admin_user, battles):
    flagged, _plain = battles
    action = ModerationAction.objects.create(action="flag", battle=flagged, reason="proba", moderator=admin_user)
    assert admin_client.get(reverse("admin:arena_moderationaction_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:arena_moderationaction_add")).status_code == 403
    change = reverse("admin:arena_moderationaction_change", args=[action.pk])
    admin_client.post(change, {"action": "ban", "reason": "aldatua"})
    action.refresh_from_db()
    assert (action.action, action.reason) == ("flag", "proba")
    # The battle's moderation fields cannot be edited by hand either (only through the logged actions).
    html = admin_client.get(reverse("admin:arena_battle_change", args=[flagged.pk])).content.decode()
    assert 'name="hidden"' not in html and 'name="flagged"' not in html
