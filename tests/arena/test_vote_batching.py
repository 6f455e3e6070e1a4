"""Votes over the battle socket (arena/vote_batching.py): a ``vote`` frame is stored with the other
sockets' votes in one transaction and answered with the reveal the vote view gives, or with its refusal."""
from __future__ import annotations

import asyncio
import json
import threading
import uuid

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from arena.models import Battle, Vote, VoteTranscript
from tests.arena.conftest import collect_turn, connect, make_participant, session_cookie
from tests.arena.factories import VALID, logged_in, ready_battle

pytestmark = [pytest.mark.django_db(transaction=True)]

# Long enough that votes sent together land in one batch, short enough for the tests.
BATCHED = override_settings(ARENA={**settings.ARENA, "VOTE_BATCH_MS": 300})
db = database_sync_to_async


async def vote(communicator, battle_id, request: int = 1, **choices) -> dict:
    """Send a vote frame (VALID answers unless given) and read its answer."""
    await send_vote(communicator, battle_id, request, **choices)
    return await communicator.receive_json_from(timeout=15)


async def send_vote(communicator, battle_id, request: int = 1, **choices) -> None:
    await communicator.send_json_to({"type": "vote", "battle": str(battle_id), "request": request,
                                     **(choices or VALID)})


async def english_socket(participant):
    cookie = await db(session_cookie)(participant.user)
    communicator, connected, _ = await connect(cookie=f"{cookie}; arena_language=en")
    assert connected
    return communicator


def english_client(participant):
    client = logged_in(participant)
    client.cookies["arena_language"] = "en"
    return client


async def test_a_vote_frame_stores_the_vote_and_answers_with_the_reveal_the_view_gives(echo_models,
                                                                                        fresh_ranking_cache):
    participant = await db(make_participant)()
    communicator = await english_socket(participant)
    frames: list[dict] = []
    await communicator.send_json_to({"type": "prompt", "text": "Kaixo, nor zara?"})
    assert (await collect_turn(communicator, frames))["can_vote"]
    battle = await db(Battle.objects.select_related("model_a", "model_b").get)()
    before = json.dumps(frames, ensure_ascii=False)
    for model in echo_models:  # no identity reached the socket before the vote
        for secret in (model.public_name, model.served_name, model.endpoint_url):
            assert secret not in before

    answer = await vote(communicator, battle.pk, request=7, content="B", language="tie", overall="both_bad")
    assert answer["type"] == "voted" and answer["request"] == 7
    assert answer["reveal"]["A"]["name"] == battle.model_a.public_name
    assert answer["reveal"]["B"]["name"] == battle.model_b.public_name
    stored = await db(Vote.objects.select_related("battle", "transcript").get)()
    assert (stored.content, stored.language, stored.overall) == ("B", "tie", "both_bad")
    assert stored.battle.status == Battle.Status.VOTED and stored.basque_level == "C1-C2"
    assert "Kaixo, nor zara?" in stored.transcript.side_a  # the conversations frozen as judged
    # The page's fallback (a lost answer) gets the same reveal from the vote view, and stores nothing more.
    again = await db(lambda: english_client(participant).post(
        reverse("arena:vote", args=[battle.pk]), {"content": "B", "language": "tie", "overall": "both_bad"}))()
    assert again.status_code == 200
    again = again.json()["reveal"]  # "what the vote did" compares with the board as it is now: refreshed since
    assert {side: again[side] for side in "AB"} == {side: answer["reveal"][side] for side in "AB"}
    assert answer["reveal"]["vote"]["status"] == "no_fit" and set(again["vote"]) == set(answer["reveal"]["vote"])
    assert await db(Vote.objects.count)() == 1
    await communicator.disconnect()


async def test_refusals_carry_the_request_and_the_vote_views_codes_and_messages(echo_models):
    owner = await db(make_participant)()
    stranger = await db(make_participant)("mikel")
    theirs = await db(ready_battle)(stranger, echo_models)
    answering = await db(ready_battle)(owner, echo_models, status=Battle.Status.ANSWERING)
    communicator = await english_socket(owner)
    client = await db(english_client)(owner)
    for request, battle_id in enumerate((theirs.pk, answering.pk, uuid.uuid4()), start=1):
        frame = await vote(communicator, battle_id, request=request)
        response = await db(client.post)(reverse("arena:vote", args=[battle_id]), VALID)
        assert frame["type"] == "error" and frame["request"] == request
        assert (frame["code"], frame["message"]) == (response.json()["error"], response.json()["message"])
    refused = await vote(communicator, answering.pk, request=9, content="A", language="both_bad", overall="C")
    assert refused["code"] == "invalid_vote" and refused["request"] == 9
    assert refused["message"] == "Answer all three questions." and set(refused["fields"]) == {"language", "overall"}
    odd = await vote(communicator, answering.pk, request=10, content=["A"], language={"A": 1}, overall=None)
    assert odd["code"] == "invalid_vote" and set(odd["fields"]) == {"content", "language", "overall"}
    await communicator.send_json_to({"type": "vote", "battle": str(answering.pk), **VALID})  # no request number
    assert (await communicator.receive_json_from(timeout=5))["code"] == "bad_frame"
    assert not await db(Vote.objects.exists)()
    assert await db(Battle.objects.filter(status=Battle.Status.VOTED).count)() == 0
    await communicator.disconnect()


async def test_a_repeat_is_answered_with_the_reveal_and_other_answers_are_refused(echo_models):
    participant = await db(make_participant)()
    battle = await db(ready_battle)(participant, echo_models)
    communicator = await english_socket(participant)
    first = await vote(communicator, battle.pk, request=1)
    repeat = await vote(communicator, battle.pk, request=2)  # its answer was lost: the page asks again
    assert first["type"] == repeat["type"] == "voted" and repeat["request"] == 2
    assert repeat["reveal"] == first["reveal"]
    changed = await vote(communicator, battle.pk, request=3, content="B", language="B", overall="B")
    assert changed["type"] == "error" and changed["code"] == "already_voted" and changed["request"] == 3
    assert await db(Vote.objects.count)() == 1 and await db(VoteTranscript.objects.count)() == 1
    await communicator.disconnect()


@pytest.mark.parametrize("window_ms", [0, 300])  # the two votes in one batch or (likelier at 0) in two
@pytest.mark.parametrize("second_answers", [VALID, {"content": "B", "language": "B", "overall": "B"}])
async def test_two_sockets_voting_one_battle_at_once_store_one_vote(echo_models, second_answers, window_ms):
    participant = await db(make_participant)()
    battle = await db(ready_battle)(participant, echo_models)
    tabs = [await english_socket(participant) for _ in range(2)]
    sent = [VALID, second_answers]
    with override_settings(ARENA={**settings.ARENA, "VOTE_BATCH_MS": window_ms}):
        answers = await asyncio.gather(*(vote(tab, battle.pk, 1, **choices) for tab, choices in zip(tabs, sent)))
    stored = await db(Vote.objects.get)()  # one vote: the one that reached the batch first
    winner = sent.index({"content": stored.content, "language": stored.language, "overall": stored.overall})
    other = 1 - winner
    assert answers[winner]["type"] == "voted"
    if second_answers == VALID:  # the same vote twice: both answered with its reveal
        assert answers[other]["type"] == "voted" and answers[other]["reveal"] == answers[winner]["reveal"]
    else:
        assert answers[other]["code"] == "already_voted"
    for tab in tabs:
        await tab.disconnect()


@BATCHED
async def test_one_refused_vote_in_a_batch_never_fails_the_others(echo_models):
    voters = [await db(make_participant)(f"boto{k}") for k in range(4)]
    battles = [await db(ready_battle)(voter, echo_models) for voter in voters[:3]]
    closed = await db(ready_battle)(voters[3], echo_models, status=Battle.Status.ABANDONED)
    sockets = [await english_socket(voter) for voter in voters]
    answers = await asyncio.gather(*(vote(socket, battle.pk, k) for k, (socket, battle)
                                     in enumerate(zip(sockets, [*battles, closed]))))
    assert [answer["type"] for answer in answers] == ["voted"] * 3 + ["error"]
    assert answers[3]["code"] == "not_ready" and answers[3]["request"] == 3
    assert await db(lambda: sorted(Vote.objects.values_list("battle_id", flat=True)))() == sorted(b.pk for b in battles)
    if connection.vendor == "postgresql":  # rows written by one transaction share its id
        assert await db(vote_transactions)() == 1
    for socket in sockets:
        await socket.disconnect()


def vote_transactions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(DISTINCT xmin::text) FROM arena_vote")
        return cursor.fetchone()[0]


class Outage:
    """The database refuses the vote's transaction: PostgreSQL drops its connection while it waits for a
    row lock held here; SQLite stays locked by another writer past a short busy timeout."""

    def __init__(self, battle: Battle):
        self.battle = battle
        self.stop = threading.Event()

    def __enter__(self):
        if connection.vendor == "postgresql":
            import psycopg

            settings_dict = connection.settings_dict
            dsn = dict(host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432, user=settings_dict["USER"],
                       dbname=settings_dict["NAME"])
            self.blocker = psycopg.connect(**dsn)
            self.blocker.execute("SELECT 1 FROM arena_battle WHERE id = %s FOR UPDATE", [self.battle.pk])
            self.killer = threading.Thread(target=self.terminate_waiting, args=(dsn,))
            self.killer.start()
        else:
            import sqlite3

            self.options = connection.settings_dict["OPTIONS"]
            self.timeout, self.options["timeout"] = self.options["timeout"], 0.3  # new connections give up soon
            self.blocker = sqlite3.connect(connection.settings_dict["NAME"])
            self.blocker.execute("BEGIN EXCLUSIVE")
        return self

    def terminate_waiting(self, dsn) -> None:
        import psycopg

        with psycopg.connect(**dsn, autocommit=True) as admin:
            while not self.stop.wait(0.05):
                waiting = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'").fetchone()
                if waiting:
                    admin.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
                    return

    def __exit__(self, *exc):
        self.stop.set()
        if connection.vendor == "postgresql":
            self.killer.join()
        else:
            self.options["timeout"] = self.timeout
        self.blocker.rollback()
        self.blocker.close()


@BATCHED
async def test_a_database_outage_answers_every_vote_of_the_batch_retry_and_stores_none(echo_models):
    voters = [await db(make_participant)(f"boto{k}") for k in range(2)]
    battles = [await db(ready_battle)(voter, echo_models) for voter in voters]
    sockets = [await english_socket(voter) for voter in voters]
    with Outage(battles[0]):
        answers = await asyncio.gather(*(vote(socket, battle.pk, 5) for socket, battle in zip(sockets, battles)))
    assert all(answer["type"] == "error" and answer["code"] == "retry" and answer["request"] == 5
               for answer in answers), answers
    assert answers[0]["message"] == "Your vote could not be stored just now. Try again."
    assert not await db(Vote.objects.exists)() and not await db(VoteTranscript.objects.exists)()
    assert await db(lambda: set(Battle.objects.values_list("status", flat=True)))() == {Battle.Status.READY}
    retried = await asyncio.gather(*(vote(socket, battle.pk, 6) for socket, battle in zip(sockets, battles)))
    assert [answer["type"] for answer in retried] == ["voted", "voted"]
    assert await db(Vote.objects.count)() == 2
    for socket in sockets:
        await socket.disconnect()


async def test_a_deactivated_account_is_refused_and_its_socket_closed(echo_models):
    participant = await db(make_participant)()
    battle = await db(ready_battle)(participant, echo_models)
    communicator = await english_socket(participant)
    await db(lambda: type(participant.user).objects.filter(pk=participant.user.pk).update(is_active=False))()
    answer = await vote(communicator, battle.pk)
    assert answer["code"] == "account_gone" and answer["request"] == 1
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
    assert not await db(Vote.objects.exists)()


async def test_a_banned_volunteer_votes_an_answered_battle_as_over_http(echo_models):
    """A ban stops new prompts, not the vote on a battle already answered (arena/services/moderation.py)."""
    from django.utils import timezone

    from arena.models import Participant

    participant = await db(make_participant)()
    battles = [await db(ready_battle)(participant, echo_models) for _ in range(2)]
    await db(lambda: Participant.objects.filter(pk=participant.pk).update(banned_at=timezone.now()))()
    communicator = await english_socket(participant)
    assert (await vote(communicator, battles[0].pk))["type"] == "voted"
    response = await db(lambda: english_client(participant).post(reverse("arena:vote", args=[battles[1].pk]), VALID))()
    assert response.status_code == 200 and await db(Vote.objects.count)() == 2
    await communicator.disconnect()


async def test_a_bug_in_a_batch_answers_server_error_with_its_own_message_and_a_retry_gets_the_reveal(
        echo_models, monkeypatch):
    """Not a database outage: the page is told to try again (it posts the vote to the view instead)."""
    from arena import selectors

    participant = await db(make_participant)()
    battle = await db(ready_battle)(participant, echo_models)
    communicator = await english_socket(participant)
    real_reveals = selectors.reveals

    def broken_reveals(*args, **kwargs):
        raise RuntimeError("a bug after the commit")

    monkeypatch.setattr(selectors, "reveals", broken_reveals)
    answer = await vote(communicator, battle.pk, 3)
    assert answer == {"type": "error", "code": "server_error", "request": 3,
                      "message": "Something went wrong on our side. Try again."}
    monkeypatch.setattr(selectors, "reveals", real_reveals)
    retried = await vote(communicator, battle.pk, 4)
    assert retried["type"] == "voted" and retried["request"] == 4
    assert await db(Vote.objects.count)() == 1
    await communicator.disconnect()
