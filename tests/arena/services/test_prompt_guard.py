"""Every prompt passes one guard (arena/services/battles.py): the volunteer's account still exists and is
active, and the rate limit holds across all of their sockets at once, counted and written in one
transaction with the participant's row locked. Deleting or deactivating an account closes its sockets.
"""
from __future__ import annotations

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection

from arena import services
from arena.models import Battle, Message
from tests.arena.conftest import connect, make_participant, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]

SOCKETS = 30
GONE = 4410  # the close code of a socket whose account was deleted or deactivated


async def first_outcome(communicator) -> str:
    """"accepted" once the turn starts, else the refusal's code."""
    while True:
        frame = await communicator.receive_json_from(timeout=30)
        if frame["type"] == "turn_start":
            return "accepted"
        if frame["type"] == "error":
            return frame["code"]


async def test_many_sockets_sending_at_once_get_exactly_the_limit_through(echo_models):
    """One volunteer, 30 sockets, one prompt each at the same instant: PROMPTS_PER_MINUTE go through."""
    limit = settings.ARENA["PROMPTS_PER_MINUTE"]
    assert limit < SOCKETS
    participant = await database_sync_to_async(make_participant)()
    cookie = await database_sync_to_async(session_cookie)(participant.user)
    sockets = []
    for _ in range(SOCKETS):
        communicator, connected, _code = await connect(cookie=cookie)
        assert connected
        sockets.append(communicator)
    for number, communicator in enumerate(sockets):
        await communicator.send_json_to({"type": "prompt", "text": f"Kaixo {number}"})
    outcomes = await asyncio.gather(*(first_outcome(communicator) for communicator in sockets))
    assert sorted(outcomes) == ["accepted"] * limit + ["rate_limited"] * (SOCKETS - limit)
    assert await database_sync_to_async(Message.objects.filter(role="user").count)() == limit
    # A refused prompt leaves no empty battle behind either.
    assert await database_sync_to_async(Battle.objects.count)() == limit
    for communicator in sockets:
        await communicator.disconnect()


def test_threads_writing_prompts_at_once_get_exactly_the_limit_through(echo_models):
    """The same race between processes: each thread has its own database connection (PostgreSQL in CI)."""
    limit = settings.ARENA["PROMPTS_PER_MINUTE"]
    participant = make_participant()
    battles = [services.start_battle(participant=participant) for _ in range(SOCKETS)]
    start = threading.Barrier(SOCKETS)
    outcomes = []

    def send(battle):
        try:
            start.wait()
            services.begin_turn(battle_id=battle.pk, participant=participant, text="Kaixo")
            outcomes.append("accepted")
        except services.ArenaError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(battle,)) for battle in battles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] * limit + ["rate_limited"] * (SOCKETS - limit)
    assert Message.objects.filter(role="user").count() == limit


@pytest.mark.parametrize("how", ["deleted", "deactivated", "user removed"])
def test_a_stale_participant_can_start_or_write_nothing(echo_models, how):
    participant = make_participant()
    battle = services.start_battle(participant=participant)
    stale = type(participant).objects.get(pk=participant.pk)  # what an open socket holds
    if how == "deleted":
        services.delete_participant(participant=participant)
    elif how == "deactivated":
        participant.user.is_active = False
        participant.user.save()
    else:
        participant.user.delete()  # e.g. from the admin's user list
    for attempt in (
        lambda: services.start_battle(participant=stale),
        lambda: services.begin_turn(battle_id=battle.pk, participant=stale, text="Nire telefonoa 600 000 000 da"),
        lambda: services.submit_prompt(participant=stale, battle_id=None, text="Ane Etxeberria naiz"),
    ):
        with pytest.raises(services.ArenaError) as refused:
            attempt()
        assert refused.value.code == "account_gone"
    assert Battle.objects.count() == 1 and not Message.objects.exists()


async def test_deleting_the_account_closes_its_open_sockets(echo_models):
    participant = await database_sync_to_async(make_participant)()
    other = await database_sync_to_async(make_participant)("jon")
    first, _, _ = await connect(participant.user)
    second, _, _ = await connect(participant.user)
    bystander, _, _ = await connect(other.user)
    await database_sync_to_async(services.delete_participant)(participant=participant)
    for communicator in (first, second):
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": GONE}
    assert await bystander.receive_nothing(timeout=0.3)  # only the deleted account's sockets
    await bystander.disconnect()


async def test_deactivating_the_user_closes_its_open_sockets(echo_models):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)

    def deactivate():  # as the admin's user page does
        user = participant.user
        user.is_active = False
        user.save()

    await database_sync_to_async(deactivate)()
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": GONE}


async def test_a_socket_that_missed_the_close_is_refused_and_stores_nothing(echo_models, monkeypatch):
    """Even when the close never arrives (another process, a channel layer hiccup), the next prompt is refused."""
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    from arena.services import accounts

    monkeypatch.setattr(accounts, "announce_account_gone", lambda group: None)  # the close message is lost
    await database_sync_to_async(services.delete_participant)(participant=participant)
    await communicator.send_json_to({"type": "prompt", "text": "Ane naiz, nire telefonoa 600 000 000 da"})
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == "account_gone"
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": GONE}
    assert await database_sync_to_async(Battle.objects.count)() == 0
    assert await database_sync_to_async(Message.objects.count)() == 0
