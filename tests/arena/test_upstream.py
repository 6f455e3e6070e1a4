"""arena/upstream.py: a turn's upstream requests start while its prompt's transaction runs, and the
stored plan stays the authority (end to end through the battle socket, against the fake upstream)."""
from __future__ import annotations

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from arena import selectors, services
from arena.models import Battle, Message
from models_serving.models import ServedModel
from tests.arena.conftest import collect_turn, connect, make_participant

pytestmark = [pytest.mark.django_db(transaction=True)]
PROPOSAL_WAIT = 2.0  # the pair drawn ahead when the socket opens is one short read; this is ample


@pytest.fixture
def held_transactions(monkeypatch):
    """Every prompt's transaction waits until the test releases it: what a slow database looks like."""
    release = threading.Event()
    real = services.submit_prompt

    def held(**kwargs):
        assert release.wait(20), "the test never released the transaction"
        return real(**kwargs)

    monkeypatch.setattr(services, "submit_prompt", held)
    return release


def requests_since(fake_openai, start: int) -> list[dict]:
    return fake_openai.app.state.requests[start:]


async def wait_for_requests(fake_openai, start: int, count: int, timeout: float = 5.0) -> list[dict]:
    for _ in range(int(timeout / 0.02)):
        if len(requests_since(fake_openai, start)) >= count:
            break
        await asyncio.sleep(0.02)
    return requests_since(fake_openai, start)


def answers(frames: list[dict]) -> dict[str, str]:
    texts = {"A": "", "B": ""}
    for frame in frames:
        if frame["type"] == "delta":
            texts[frame["side"]] += frame["text"]
    return texts


async def test_a_new_battles_requests_start_before_its_prompt_is_stored(echo_models, fake_openai, held_transactions):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    await asyncio.sleep(PROPOSAL_WAIT)
    start = len(fake_openai.app.state.requests)
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo, zer moduz?"})
    sent = await wait_for_requests(fake_openai, start, 2)
    # Both sides were asked while the transaction was still held: nothing is stored yet.
    assert len(sent) == 2 and not await database_sync_to_async(Message.objects.exists)()
    assert {request["messages"][0]["content"] for request in sent} == {"Zu Alfa zara.", "Zu Beta zara."}
    assert await communicator.receive_nothing(timeout=0.3)  # no frame before the prompt is stored
    held_transactions.set()
    frames: list[dict] = []
    assert (await collect_turn(communicator, frames))["type"] == "turn_done"
    assert [frame["type"] for frame in frames[:2]] == ["battle", "turn_start"]
    assert len(requests_since(fake_openai, start)) == 2  # the speculative requests were the turn's own
    stored = await database_sync_to_async(
        lambda: {m.side: m.content for m in Message.objects.filter(role="assistant")})()
    assert answers(frames) == stored and all(stored.values())
    await communicator.disconnect()


async def test_a_later_turn_sends_the_conversation_it_relayed_before_the_prompt_is_stored(
        echo_models, fake_openai, held_transactions):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    held_transactions.set()
    await communicator.send_json_to({"type": "prompt", "text": "Lehena"})
    first: list[dict] = []
    await collect_turn(communicator, first)
    held_transactions.clear()
    start = len(fake_openai.app.state.requests)
    await communicator.send_json_to({"type": "prompt", "text": "Bigarrena"})
    sent = await wait_for_requests(fake_openai, start, 2)
    assert len(sent) == 2 and await database_sync_to_async(Message.objects.filter(role="user").count)() == 1
    held_transactions.set()
    frames: list[dict] = []
    assert (await collect_turn(communicator, frames))["type"] == "turn_done"
    assert len(requests_since(fake_openai, start)) == 2
    # What was sent ahead is what the stored conversation gives: the first answers included.
    battle = await database_sync_to_async(Battle.objects.get)(pk=first[0]["battle"])
    conversations = await database_sync_to_async(selectors.battle_conversations)(battle)
    asked = {side: conversations[side][:-1] for side in "AB"}  # each without its second answer
    assert sorted((request["messages"] for request in sent), key=str) == sorted(asked.values(), key=str)
    assert all(conversation[-1] == {"role": "user", "content": "Bigarrena"} for conversation in asked.values())
    assert all(conversation[-2]["role"] == "assistant" and conversation[-2]["content"]
               for conversation in asked.values())
    await communicator.disconnect()


@override_settings(ARENA={**__import__("django.conf").conf.settings.ARENA, "PROMPTS_PER_MINUTE": 1})
async def test_a_refused_prompt_cancels_its_requests_and_the_socket_stops_speculating(echo_models, fake_openai):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    await communicator.send_json_to({"type": "prompt", "text": "Bat"})
    assert (await collect_turn(communicator, []))["type"] == "turn_done"
    start = len(fake_openai.app.state.requests)
    await communicator.send_json_to({"type": "prompt", "text": "Bi"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "rate_limited"
    assert await communicator.receive_nothing(timeout=0.5)  # none of the speculative answer reaches the page
    asked_for_refused = len(requests_since(fake_openai, start))
    assert asked_for_refused <= 2
    await communicator.send_json_to({"type": "prompt", "text": "Hiru"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "rate_limited"
    await asyncio.sleep(0.3)
    assert len(requests_since(fake_openai, start)) == asked_for_refused  # refused once: no more speculation
    assert await database_sync_to_async(Message.objects.filter(role="user").count)() == 1
    await communicator.disconnect()


async def test_a_prediction_the_stored_plan_contradicts_is_replaced_by_the_plan(
        echo_models, fake_openai, held_transactions):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    await asyncio.sleep(PROPOSAL_WAIT)
    # An admin points the first model at another served name after the pair was drawn ahead.
    await database_sync_to_async(ServedModel.objects.filter(served_name="echo-alpha").update)(served_name="echo-gamma")
    start = len(fake_openai.app.state.requests)
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
    await wait_for_requests(fake_openai, start, 2)
    held_transactions.set()
    frames: list[dict] = []
    assert (await collect_turn(communicator, frames))["type"] == "turn_done"
    sent = [request["model"] for request in requests_since(fake_openai, start)]
    assert sorted(sent[:2]) == ["echo-alpha", "echo-beta"]  # the prediction, cancelled
    assert sorted(sent[2:]) == ["echo-beta", "echo-gamma"]  # the stored plan's own requests
    stored = await database_sync_to_async(
        lambda: {m.side: m.content for m in Message.objects.filter(role="assistant")})()
    assert answers(frames) == stored and all(stored.values())
    await communicator.disconnect()


@override_settings(ARENA={**__import__("django.conf").conf.settings.ARENA, "SPECULATIVE_START": False})
async def test_without_speculation_nothing_is_asked_before_the_prompt_is_stored(
        echo_models, fake_openai, held_transactions):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    await asyncio.sleep(0.5)
    start = len(fake_openai.app.state.requests)
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
    await asyncio.sleep(0.5)
    assert requests_since(fake_openai, start) == []
    held_transactions.set()
    assert (await collect_turn(communicator, []))["type"] == "turn_done"
    assert len(requests_since(fake_openai, start)) == 2
    await communicator.disconnect()
