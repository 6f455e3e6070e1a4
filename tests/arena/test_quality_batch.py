"""The quality checks in batches (arena/quality.py:recheck_votes, arena/tasks.py:check_new_votes): a few
queries whatever the batch's size, and the same findings as checking each vote alone."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from arena import quality, ranking, selectors, tasks
from arena.models import Battle, Vote, VoteTranscript
from tests.arena.conftest import arena_config
from tests.arena.factories import add_answers, add_votes, make_models, make_voter

LONG = "Euskara hizkuntza zaharra da eta oso ederra; milaka urte ditu."
BATCH_QUERIES = 30  # styles, labels, checks and the progress broadcast of one batch, whatever its size


@pytest.fixture(autouse=True)
def quiet_board(fresh_ranking_cache, settings):
    """A published fit and a refresh just claimed: the batch reads the fit and queues no refresh (a
    task of its own), so only the batch's own queries are counted."""
    settings.ARENA = {**settings.ARENA, "LEADERBOARD_REFRESH_SECONDS": 60}


def freeze_transcripts(votes: list[Vote]) -> None:
    """What the vote view stores with each vote: the conversations as the volunteer saw them."""
    sides = selectors.transcripts_of(Battle.objects.filter(pk__in=[vote.battle_id for vote in votes]))
    VoteTranscript.objects.bulk_create([VoteTranscript(vote=vote, side_a=sides[str(vote.battle_id)][0],
                                                       side_b=sides[str(vote.battle_id)][1]) for vote in votes])


def store_mixed_votes(count: int, models) -> list[Vote]:
    """``count`` new votes from five voters: leaks, short answers, votes over the daily cap, half of
    them with a frozen transcript (as the vote view stores them) and half without (imports)."""
    voters = [make_voter() for _ in range(5)]
    votes = []
    for k in range(count):
        vote = add_votes([(models[0], models[1], "A", "A", "B")], participant=voters[k % 5])[0]
        answer_a = f"Ni {models[0].identity_terms} naiz. {LONG}" if k % 4 == 0 else LONG
        add_answers(vote.battle, answer_a, "Bai." if k % 3 == 0 else LONG)
        votes.append(vote)
    freeze_transcripts(votes[::2])
    return votes


def batch_statements(count: int, models) -> list[str]:
    """The SQL of one ``check_new_votes`` over ``count`` freshly stored votes."""
    votes = store_mixed_votes(count, models)
    ranking.current_strengths()  # the fit a running worker has published already
    ranking.mark_stale()
    ranking.claim_refresh()  # (unless an earlier batch claimed it) the refresh after this batch is
    assert not ranking.claim_refresh()  # throttled: no leaderboard queries are counted
    with CaptureQueriesContext(connection) as captured:
        assert tasks.check_new_votes() == count
    assert not Vote.objects.filter(pk__in=[vote.pk for vote in votes], checked_at__isnull=True).exists()
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db
def test_a_batch_costs_the_same_few_queries_whatever_its_size():
    arena_config(daily_vote_cap=3, min_answer_chars=20)
    models = make_models(2, identity_terms="Latxa")
    small, large = batch_statements(10, models), batch_statements(100, models)
    assert len(large) <= BATCH_QUERIES
    # SQLite takes at most 999 parameters a statement, so Django splits a long INSERT there; nothing else
    # may grow with the batch.
    assert len([sql for sql in large if not sql.startswith("INSERT")]) == len(
        [sql for sql in small if not sql.startswith("INSERT")])
    flagged = Vote.objects.filter(excluded=True).values_list("exclusion_reasons", flat=True)
    assert {reason for reasons in flagged for reason in reasons} == {"identity_leak", "too_short", "daily_cap"}


def at(day: int, minute: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime(2026, 3, day, 10, minute))


def voted(model_a, model_b, voter, when, answer_a=LONG, answer_b=LONG, overall="A", reasons=()) -> Vote:
    vote = add_votes([(model_a, model_b, overall, overall, overall)], participant=voter, when=when,
                     excluded=bool(reasons), reasons=list(reasons))[0]
    add_answers(vote.battle, answer_a, answer_b)
    return vote


@pytest.mark.django_db
def test_a_mixed_batch_finds_what_checking_each_vote_alone_finds():
    arena_config(daily_vote_cap=3, min_answer_chars=20)
    latxa, other = make_models(2)
    latxa.identity_terms = "Latxa\nHiTZ"
    latxa.save()
    theta = {latxa.pk: 3.0, other.pk: -3.0}
    steady, contrarian, honest = make_voter(), make_voter(), make_voter()
    expected: dict[int, list[str]] = {}

    def expect(vote: Vote, *reasons: str) -> Vote:
        expected[vote.pk] = sorted(reasons)
        return vote

    # One day of a steady voter: the 4th and 5th votes are over the cap of 3.
    expect(voted(latxa, other, steady, at(2, 0), answer_a="Kaixo, HiTZ zentroak egina naiz. " + LONG), "identity_leak")
    expect(voted(other, latxa, steady, at(2, 1), answer_a="Latxa ezagutzen dut. " + LONG))  # names the rival
    expect(voted(latxa, other, steady, at(2, 2), answer_b="Bai."), "too_short")
    expect(voted(latxa, other, steady, at(2, 3)), "daily_cap")
    expect(voted(latxa, other, steady, at(2, 4), answer_a="Ez."), "daily_cap", "too_short")
    expect(voted(latxa, other, steady, at(3, 0), reasons=["too_short"]))  # a stale flag is removed
    expect(voted(latxa, other, steady, at(3, 1), answer_a="ez", reasons=["manual"]), "manual", "too_short")
    # A voter who always picks the much weaker model: every vote of theirs is flagged.
    for day in range(12):
        expect(voted(latxa, other, contrarian, at(4 + day, 0), overall="B",
                     answer_b="Ez." if day == 5 else LONG), "judge_outlier", *(["too_short"] if day == 5 else []))
    expect(voted(latxa, other, honest, at(2, 0), reasons=["judge_outlier"]))  # a judge the new fit clears
    # The check reads the conversation as judged: a frozen transcript, not an answer edited since.
    frozen = expect(voted(latxa, other, honest, at(2, 1), answer_a="Latxa naiz. " + LONG), "identity_leak")
    freeze_transcripts([frozen])
    Battle.objects.get(pk=frozen.battle_id).messages.filter(side="A").update(content=LONG)

    ids = list(expected)
    before = {pk: (excluded, reasons) for pk, excluded, reasons in
              Vote.objects.values_list("pk", "excluded", "exclusion_reasons")}

    def findings() -> dict[int, list[str]]:
        rows = Vote.objects.values_list("pk", "excluded", "exclusion_reasons")
        assert all(excluded == bool(reasons) for _pk, excluded, reasons in rows)
        return {pk: sorted(reasons) for pk, _excluded, reasons in rows}

    assert quality.recheck_votes(ids, theta=theta) == len(ids)
    in_one_batch = findings()
    for pk, (excluded, reasons) in before.items():
        Vote.objects.filter(pk=pk).update(excluded=excluded, exclusion_reasons=reasons)
    for pk in random.Random(3).sample(ids, len(ids)):
        quality.check_vote(pk, theta=theta)
    one_at_a_time = findings()
    assert in_one_batch == one_at_a_time == expected
