"""The campaign progress socket (arena/progress_consumer.py) and the broadcast that feeds it
(arena/services/campaigns.py, queued by arena/tasks.py after each batch of checked votes)."""
from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from arena import services, tasks
from arena.services.campaigns import broadcast_progress
from tests.arena.conftest import arena_config, connect, make_participant
from tests.arena.factories import VALID, add_campaign_votes, make_campaign, make_models, make_voter, ready_battle

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_anonymous_visitors_may_listen_and_what_they_send_is_ignored():
    communicator, connected, _code = await connect(None, path="/ws/progress/")
    assert connected
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_foreign_page_cannot_open_the_progress_socket():
    _communicator, connected, _code = await connect(None, path="/ws/progress/", origin="http://evil.example.com")
    assert not connected


async def test_a_broadcast_reaches_every_connected_progress_socket():
    def setup():
        models = make_models(2)
        campaign = make_campaign("live", models=models, targets=[10, 0], vote_target=40)
        votes = add_campaign_votes(campaign, make_voter(), models, 3)
        add_campaign_votes(campaign, make_voter(), models, 2, excluded=True, reasons=["manual"])
        return models, [vote.pk for vote in votes]

    models, vote_ids = await database_sync_to_async(setup)()
    first, ok_first, _ = await connect(None, path="/ws/progress/")
    second, ok_second, _ = await connect(None, path="/ws/progress/")
    assert ok_first and ok_second
    sent = await database_sync_to_async(broadcast_progress)(vote_ids=vote_ids)
    assert sent == 1
    for communicator in (first, second):
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["type"] == "progress" and frame["campaign"] == "live"
        assert (frame["votes"], frame["target"], frame["percent"]) == (3, 40, 7)  # excluded votes do not count
        assert frame["models"][str(models[0].pk)] == {"votes": 3, "percent": 30}
        await communicator.disconnect()


async def test_votes_without_a_campaign_broadcast_nothing():
    def setup():
        from tests.arena.factories import add_votes

        models = make_models(2)
        return [vote.pk for vote in add_votes([(models[0], models[1], "A", "A", "A")])]

    vote_ids = await database_sync_to_async(setup)()
    communicator, connected, _ = await connect(None, path="/ws/progress/")
    assert connected
    assert await database_sync_to_async(broadcast_progress)(vote_ids=vote_ids) == 0
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_vote_cast_through_the_service_moves_the_bar_once_its_batch_is_checked(echo_models):
    def setup():
        arena_config(min_answer_chars=1)  # "Kaixo A!" is a short answer
        campaign = make_campaign("zuzenean", models=echo_models, vote_target=2)
        participant = make_participant()
        battle = ready_battle(participant, echo_models)
        type(battle).objects.filter(pk=battle.pk).update(campaign=campaign)
        return participant, battle

    def vote(participant, battle):
        # As the vote view does: the batch of checks (eager Celery here) runs once the vote commits.
        services.cast_vote(battle_id=battle.pk, participant=participant, **VALID, after_commit=tasks.vote_stored)

    participant, battle = await database_sync_to_async(setup)()
    communicator, connected, _ = await connect(None, path="/ws/progress/")
    assert connected
    await database_sync_to_async(vote)(participant, battle)
    frame = await asyncio.wait_for(communicator.receive_json_from(timeout=10), 15)
    assert (frame["campaign"], frame["votes"], frame["target"], frame["percent"]) == ("zuzenean", 1, 2, 50)
    await communicator.disconnect()
