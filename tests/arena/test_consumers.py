"""The battle WebSocket (arena/consumers.py), end to end through the ASGI stack, against a fake OpenAI server."""
from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from arena.models import Battle, Message
from models_serving.models import ServedModel
from tests.arena.conftest import collect_turn, connect, make_participant, register_model

pytestmark = [pytest.mark.django_db(transaction=True)]


def identities(models) -> list[str]:
    values = []
    for model in models:
        values += [model.public_name, model.served_name, model.endpoint_url]
    return [value for value in values if value]


async def test_anonymous_socket_is_refused(echo_models):
    communicator, connected, code = await connect(None)
    assert not connected and code == 4401


async def test_foreign_origin_is_refused(echo_models):
    participant = await database_sync_to_async(make_participant)()
    communicator, connected, _code = await connect(participant.user, origin="http://evil.example.com")
    assert not connected


async def test_user_without_participant_profile_is_refused(echo_models, django_user_model):
    user = await database_sync_to_async(django_user_model.objects.create_user)("admin-only", password="x" * 12)
    _communicator, connected, code = await connect(user)
    assert not connected and code == 4401


async def test_battle_streams_both_sides_and_never_leaks_identity(echo_models, fake_openai):
    participant = await database_sync_to_async(make_participant)()
    communicator, connected, _ = await connect(participant.user)
    assert connected
    frames: list[dict] = []
    await communicator.send_json_to({"type": "prompt", "text": "Zein da Euskal Herriko mendirik altuena?"})
    last = await collect_turn(communicator, frames)
    assert last == {"type": "turn_done", "status": "ready", "stopped": False, "can_vote": True}
    deltas = {side: "".join(f["text"] for f in frames if f["type"] == "delta" and f["side"] == side) for side in "AB"}
    assert deltas["A"].startswith("Erantzuna 1: Zein da") and deltas["B"].startswith("Erantzuna 1: Zein da")
    # Token by token: several delta frames per side, not one blob.
    assert sum(1 for f in frames if f["type"] == "delta" and f["side"] == "A") > 5
    # Second turn: each side gets its own history (its own previous answer and system prompt).
    await communicator.send_json_to({"type": "prompt", "text": "Eta bigarrena?"})
    await collect_turn(communicator, frames)
    battle = await database_sync_to_async(Battle.objects.select_related("model_a", "model_b").get)()
    assert battle.status == Battle.Status.READY
    answers = await database_sync_to_async(
        lambda: {(m.turn, m.side): m.content for m in battle.messages.filter(role="assistant")}
    )()
    for side in "AB":
        system = battle.snapshot_for(side)["system_prompt"]
        assert f"Erantzuna 2: Eta bigarrena? | aurrekoak=1 | sistema={system}" in answers[(1, side)]
    # The served requests carried each side's own earlier answer, never the other side's.
    second_turn = [r for r in fake_openai.requests if len([m for m in r["messages"] if m["role"] == "user"]) == 2]
    assert len(second_turn) >= 2  # one request per side
    for request in second_turn[-2:]:
        own_system = request["messages"][0]["content"]
        assistant = [m["content"] for m in request["messages"] if m["role"] == "assistant"][0]
        assert own_system in assistant
    # Sampling defaults were applied.
    assert all(r["temperature"] == 0.9 and r["top_p"] == 0.95 for r in fake_openai.requests[-2:])
    raw = json.dumps(frames)
    for secret in identities([battle.model_a, battle.model_b]):
        assert secret not in raw, f"identity {secret!r} leaked in a frame"
    await communicator.disconnect()


async def test_bad_frames_get_clear_errors_and_change_nothing(echo_models):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    cases = [
        ("not json", "bad_frame"),
        (json.dumps([1, 2]), "bad_frame"),
        (json.dumps({"type": "hack"}), "unknown_type"),
        (json.dumps({"type": "prompt", "text": "   "}), "empty_prompt"),
        (json.dumps({"type": "prompt", "text": 42}), "empty_prompt"),
        (json.dumps({"type": "prompt", "text": "a" * 5000}), "prompt_too_long"),
        (json.dumps({"type": "prompt", "text": "b" * 20000}), "frame_too_large"),
    ]
    for raw, code in cases:
        await communicator.send_to(text_data=raw)
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["type"] == "error" and frame["code"] == code, (raw[:30], frame)
        assert frame["message"]
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from(timeout=5))["code"] == "bad_frame"
    assert await database_sync_to_async(Battle.objects.count)() == 0
    assert await database_sync_to_async(Message.objects.count)() == 0
    await communicator.disconnect()


async def test_error_messages_follow_the_language_cookie(echo_models):
    participant = await database_sync_to_async(make_participant)()
    from tests.arena.conftest import session_cookie

    cookie = await database_sync_to_async(session_cookie)(participant.user)
    messages = {}
    for language in ("eu", "es", "en"):
        communicator, _, _ = await connect(cookie=f"{cookie}; arena_language={language}")
        await communicator.send_json_to({"type": "prompt", "text": ""})
        messages[language] = (await communicator.receive_json_from(timeout=5))["message"]
        await communicator.disconnect()
    assert messages["en"] == "Write a question or message first."
    assert len(set(messages.values())) == 3, messages


@override_settings(ARENA={**__import__("django.conf").conf.settings.ARENA, "PROMPTS_PER_MINUTE": 2})
async def test_prompt_rate_limit(echo_models):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    frames: list[dict] = []
    for text in ("Bat", "Bi"):
        await communicator.send_json_to({"type": "prompt", "text": text})
        assert (await collect_turn(communicator, frames))["type"] == "turn_done"
    await communicator.send_json_to({"type": "prompt", "text": "Hiru"})
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["code"] == "rate_limited"
    assert await database_sync_to_async(Message.objects.filter(role="user").count)() == 2
    await communicator.disconnect()


async def test_endpoint_down_before_first_token_fails_the_battle(db, fake_openai):
    await database_sync_to_async(register_model)("Ona", "echo-ok", fake_openai.base_url)
    await database_sync_to_async(register_model)("Erorita", "down", fake_openai.base_url)
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    frames: list[dict] = []
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
    last = await collect_turn(communicator, frames)
    errors = [f for f in frames if f["type"] == "error"]
    assert errors and errors[0]["code"] == "model_failed"
    assert "ez dago" in errors[0]["message"] or "ezin" in errors[0]["message"].lower(), errors[0]["message"]
    assert last["status"] == "failed" and last["can_vote"] is False
    battle = await database_sync_to_async(Battle.objects.get)()
    assert battle.status == Battle.Status.FAILED and "503" in battle.failure_reason
    down = await database_sync_to_async(ServedModel.objects.get)(served_name="down")
    assert down.health == ServedModel.Health.UNHEALTHY
    # Retrying starts a new battle; the unhealthy model is no longer drawn, so too few models remain.
    await communicator.send_json_to({"type": "prompt", "text": "Berriro"})
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["code"] == "no_models"
    await communicator.disconnect()


async def test_stop_cancels_both_streams_and_keeps_partial_answers(db, fake_openai):
    await database_sync_to_async(register_model)("Motela1", "slow", fake_openai.base_url)
    await database_sync_to_async(register_model)("Motela2", "slow", fake_openai.base_url, temperature=0.5)
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    await communicator.send_json_to({"type": "prompt", "text": "Idatzi asko"})
    seen = {"A": 0, "B": 0}
    while min(seen.values()) < 2:
        frame = await communicator.receive_json_from(timeout=10)
        if frame["type"] == "delta":
            seen[frame["side"]] += 1
    # While answering, a new prompt is refused.
    await communicator.send_json_to({"type": "prompt", "text": "Beste bat"})
    await communicator.send_json_to({"type": "stop"})
    frames: list[dict] = []
    last = await collect_turn(communicator, frames)
    assert last["type"] == "error" and last["code"] == "busy"
    last = await collect_turn(communicator, frames)
    assert last["stopped"] is True and last["status"] == "ready"
    answers = await database_sync_to_async(lambda: list(Message.objects.filter(role="assistant")))()
    assert {m.side for m in answers} == {"A", "B"}
    assert all(m.finish_reason == "cancelled" and 0 < len(m.content) < 2000 * 7 for m in answers)
    await communicator.disconnect()


async def test_new_battle_abandons_the_unvoted_one(echo_models):
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    frames: list[dict] = []
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
    await collect_turn(communicator, frames)
    await communicator.send_json_to({"type": "new_battle"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "reset"
    battle = await database_sync_to_async(Battle.objects.get)()
    assert battle.status == Battle.Status.ABANDONED
    await communicator.disconnect()


async def test_model_dying_mid_stream_fails_the_battle(db, fake_openai):
    await database_sync_to_async(register_model)("Hilkorra", "die", fake_openai.base_url)
    await database_sync_to_async(register_model)("Ona", "echo-ok", fake_openai.base_url)
    participant = await database_sync_to_async(make_participant)()
    communicator, _, _ = await connect(participant.user)
    frames: list[dict] = []
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo"})
    last = await collect_turn(communicator, frames)
    assert last["status"] == "failed"
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "model_failed"
    battle = await database_sync_to_async(Battle.objects.get)()
    assert battle.status == Battle.Status.FAILED
    await communicator.disconnect()
