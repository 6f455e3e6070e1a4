"""The reveal after the vote (arena/views/battle.py `vote` → selectors.reveal): card, figures, energy and
what the vote did, only in the vote's answer; the page and the socket before it never carry them."""
from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from arena.models import Battle, Message
from tests.arena.conftest import collect_turn, connect, make_participant, register_model
from tests.arena.factories import VALID, add_votes, logged_in, ready_battle

CARD = {"backbone": "Llama-3.1-8B-Oinarria", "parameters": "8B", "adaptation": "Euskal corpusa + argibideak, LoRA",
        "energy_wh_per_1k_tokens": 2.0, "energy_source": "Gure GPU zerbitzarian neurtua"}


def card_secrets(models) -> list[str]:
    return [value for model in models for value in (model.public_name, model.backbone, model.adaptation,
                                                    model.energy_source, model.description) if value]


@pytest.fixture
def carded_models(echo_models):
    """The echo models with a public card; A has an energy estimate, B none."""
    alfa, beta = echo_models
    for field, value in CARD.items():
        setattr(alfa, field, value)
    alfa.description = "Alfa deskribapena"
    alfa.save()
    beta.backbone, beta.parameters = "Gemma-2-Oinarria", "9B"
    beta.save()
    return echo_models


@pytest.mark.django_db
def test_vote_reveals_card_figures_and_energy(participant, carded_models, fresh_ranking_cache):
    battle = ready_battle(participant, carded_models)
    Message.objects.filter(battle=battle, side="A").update(token_count=501, ttft_ms=250, duration_ms=2250)
    Message.objects.filter(battle=battle, side="B").update(token_count=40, ttft_ms=100, duration_ms=500)
    response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID,
                                           HTTP_ACCEPT_LANGUAGE="en")
    reveal = response.json()["reveal"]
    a, b = reveal["A"], reveal["B"]
    assert a["card"]["backbone"] == CARD["backbone"] and a["card"]["parameters"] == "8B"
    assert a["card"]["adaptation"] == CARD["adaptation"]
    assert a["card"]["leaderboard_url"] == "/leaderboard/#overall-latxa-proba-alfa"
    assert a["figures"]["tokens"] == 501 and a["figures"]["ttft_ms"] == 250
    assert a["figures"]["tokens_per_second"] == pytest.approx(250.0)  # 500 tokens after the first in 2 s
    assert a["energy"]["wh"] == pytest.approx(1.002) and a["energy"]["source"] == CARD["energy_source"]
    assert b["energy"] is None and b["card"]["backbone"] == "Gemma-2-Oinarria"
    assert reveal["vote"]["status"] == "no_fit" and reveal["vote"]["text"]


@pytest.mark.django_db
def test_what_the_vote_did_compares_with_the_board_before_it(participant, echo_models, fresh_ranking_cache):
    from arena import ranking

    alfa, beta = echo_models
    add_votes([(alfa, beta, "A", "A", "A")] * 9 + [(alfa, beta, "B", "B", "B")] * 6)
    ranking.refresh_leaderboard(True)
    before = ranking.sampling_state()
    battle = ready_battle(participant, echo_models)
    response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID)
    vote = response.json()["reveal"]["vote"]
    from arena import reveal

    expected = reveal.vote_effect(before, alfa.pk, beta.pk, True)
    assert vote["before"] == expected["before"] and vote["before"] > 1
    assert vote["after"] == vote["before"] - 1 and str(vote["before"]) in vote["text"]


@pytest.mark.django_db
def test_battle_page_before_the_vote_has_no_card(participant, carded_models):
    ready_battle(participant, carded_models)
    client = logged_in(participant)
    html = client.get(reverse("arena:battle")).content.decode()
    for secret in card_secrets(carded_models):
        assert secret not in html
    assert 'id="card-A"' in html and 'id="vote-effect"' in html  # the places the reveal fills in


@pytest.mark.django_db
def test_a_refused_vote_reveals_nothing(participant, carded_models):
    battle = ready_battle(participant, carded_models, status=Battle.Status.ANSWERING)
    response = logged_in(participant).post(reverse("arena:vote", args=[battle.pk]), VALID)
    assert response.status_code == 409
    body = response.content.decode()
    for secret in card_secrets(carded_models):
        assert secret not in body


@pytest.mark.django_db(transaction=True)
async def test_socket_frames_before_the_vote_carry_no_card(fake_openai):
    models = []
    for name, served in (("Eredu-Kartaduna", "echo-card-a"), ("Beste-Eredua", "echo-card-b")):
        models.append(await database_sync_to_async(register_model)(name, served, fake_openai.base_url, **CARD))
    participant = await database_sync_to_async(make_participant)()
    communicator, connected, _ = await connect(participant.user)
    assert connected
    frames: list[dict] = []
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo, nor zara?"})
    last = await collect_turn(communicator, frames)
    assert last["type"] == "turn_done" and last["can_vote"]
    raw = json.dumps(frames, ensure_ascii=False)
    for secret in card_secrets(models):
        assert secret not in raw, f"{secret!r} reached the browser before the vote"
    await communicator.disconnect()
