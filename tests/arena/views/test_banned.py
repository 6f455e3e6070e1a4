"""A volunteer banned by a moderator sees why on the battle page, and the socket refuses the prompt."""
from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.urls import reverse

from arena.models import Battle
from arena.services import moderation
from tests.arena.conftest import connect, make_participant
from tests.arena.factories import logged_in


def ban(participant):
    moderator = get_user_model().objects.create_user("moderatzailea", password="x" * 16, is_staff=True)
    moderation.set_participants_banned(participant_ids=[participant.pk], banned=True, moderator=moderator,
                                       reason="zaborra")


@pytest.mark.django_db
def test_battle_page_says_the_account_is_blocked(participant):
    client = logged_in(participant)
    client.cookies["arena_language"] = "en"
    assert "blocked this account" not in client.get(reverse("arena:battle")).content.decode()
    ban(participant)
    page = client.get(reverse("arena:battle")).content.decode()
    assert "A moderator has blocked this account from new conversations" in page and 'role="alert"' in page


@pytest.mark.django_db(transaction=True)
async def test_socket_refuses_a_banned_volunteers_prompt(echo_models):
    participant = await database_sync_to_async(make_participant)()
    await database_sync_to_async(ban)(participant)
    communicator, connected, _ = await connect(participant.user)
    assert connected
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == "banned" and frame["message"]
    assert not await database_sync_to_async(Battle.objects.exists)()
    await communicator.disconnect()
