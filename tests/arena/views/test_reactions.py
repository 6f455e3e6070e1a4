"""Reactions over HTTP (arena/views/reactions.py): toggle, ownership, clear errors, CSRF, before and after the vote."""
from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from arena.models import Reaction
from tests.arena.conftest import make_participant
from tests.arena.factories import VALID, logged_in, ready_battle


def react(client, battle, **fields):
    data = {"side": "A", "turn": "0", "kind": "useful", **fields}
    return client.post(reverse("arena:react", args=[battle.pk]), data)


@pytest.mark.django_db
def test_toggle_on_and_off_and_list_them(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    client = logged_in(participant)
    on = react(client, battle)
    assert on.status_code == 200 and on.json() == {"turn": 0, "side": "A", "kind": "useful", "active": True}
    react(client, battle, side="B", kind="bad_basque")
    assert Reaction.objects.count() == 2
    listed = client.get(reverse("arena:react", args=[battle.pk])).json()["reactions"]
    assert listed == [{"turn": 0, "side": "A", "kind": "useful"}, {"turn": 0, "side": "B", "kind": "bad_basque"}]
    off = react(client, battle)
    assert off.json()["active"] is False
    assert list(Reaction.objects.values_list("kind", flat=True)) == ["bad_basque"]


@pytest.mark.django_db
def test_reactions_work_after_the_vote_too(participant, echo_models, fresh_ranking_cache):
    battle = ready_battle(participant, echo_models)
    client = logged_in(participant)
    assert client.post(reverse("arena:vote", args=[battle.pk]), VALID).status_code == 200
    assert react(client, battle, kind="wrong").json()["active"] is True


@pytest.mark.django_db
def test_another_volunteers_battle_is_not_found(participant, echo_models):
    battle = ready_battle(participant, echo_models)
    intruder = logged_in(make_participant("mikel"))
    response = react(intruder, battle)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert intruder.get(reverse("arena:react", args=[battle.pk])).status_code == 404
    assert not Reaction.objects.exists()
    assert "Latxa" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "code"), [
    ({"kind": "brilliant"}, "bad_kind"), ({"kind": ""}, "bad_kind"), ({"side": "C"}, "bad_answer"),
    ({"turn": "7"}, "bad_answer"), ({"turn": "x"}, "bad_answer"), ({"turn": "-1"}, "bad_answer"),
])
def test_bad_requests_get_a_clear_error_and_change_nothing(participant, echo_models, fields, code):
    battle = ready_battle(participant, echo_models)
    response = react(logged_in(participant), battle, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == code and body["message"]
    assert not Reaction.objects.exists()


@pytest.mark.django_db
def test_unknown_battle_anonymous_and_csrf(participant, echo_models):
    from django.test import Client

    battle = ready_battle(participant, echo_models)
    assert react(logged_in(participant), type("B", (), {"pk": uuid.uuid4()})()).status_code == 404
    assert react(Client(), battle).status_code == 403
    strict = logged_in(participant, csrf=True)
    assert react(strict, battle).status_code == 403  # no token: Django's CSRF refusal
    assert not Reaction.objects.exists()
