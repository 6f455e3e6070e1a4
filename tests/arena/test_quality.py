"""Vote quality checks: identity leaks, too-short battles, the daily cap and the judge SPRT."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from arena import quality, ranking
from arena.models import Battle, Vote
from tests.arena.conftest import arena_config
from tests.arena.factories import add_answers, add_votes, bt_outcomes, make_models, make_voter

LONG = "Euskara hizkuntza zaharra da eta oso ederra; milaka urte ditu."
NO_FIT: dict[int, float] = {}  # no Bradley–Terry fit: the judge test skips every vote


@pytest.fixture(autouse=True)
def fresh_cache(fresh_ranking_cache):
    """The leaderboard cache is per process; each test starts from an empty one."""


def voted_battle(model_a, model_b, answer_a=LONG, answer_b=LONG, participant=None, overall="A") -> Vote:
    vote = add_votes([(model_a, model_b, overall, overall, overall)], participant=participant)[0]
    add_answers(vote.battle, answer_a, answer_b)
    return vote


def test_identity_pattern_matches_whole_words_case_insensitively():
    pattern = quality.identity_pattern("Latxa\nHiTZ Zentroa\n\nC++\n")
    assert pattern.search("Ni LATXA naiz, HiTZ zentroak sortua.")
    assert pattern.search("Idatzita dago C++ lengoaian.")
    assert not pattern.search("Latxagoa da hau")  # part of a longer word
    assert not pattern.search("ezlatxa")
    assert quality.identity_pattern("\n  \n") is None


@pytest.mark.django_db
def test_identity_leak_flags_only_a_model_naming_itself():
    latxa, other = make_models(2)
    latxa.identity_terms = "Latxa\nHiTZ"
    latxa.save()
    self_naming = voted_battle(latxa, other, answer_a="Kaixo! Latxa naiz, HiTZek entrenatua. " + LONG)
    naming_the_rival = voted_battle(other, latxa, answer_a="Latxa eredua ezagutzen dut. " + LONG)
    assert "identity_leak" in quality.check_vote(self_naming.pk, theta=NO_FIT)
    assert "identity_leak" not in quality.check_vote(naming_the_rival.pk, theta=NO_FIT)
    self_naming.refresh_from_db()
    assert self_naming.excluded and self_naming.exclusion_reasons == ["identity_leak"]


@pytest.mark.django_db
def test_too_short_uses_the_configured_minimum_per_side():
    arena_config(min_answer_chars=30)
    m1, m2 = make_models(2)
    short = voted_battle(m1, m2, answer_b="Bai.")
    fine = voted_battle(m1, m2)
    assert quality.check_vote(short.pk, theta=NO_FIT) == ["too_short"]
    assert quality.check_vote(fine.pk, theta=NO_FIT) == []
    arena_config(min_answer_chars=2)
    assert quality.check_vote(short.pk, theta=NO_FIT) == []  # re-checking removes a flag that no longer applies


@pytest.mark.django_db
def test_daily_cap_flags_votes_beyond_the_cap_on_the_same_local_day():
    arena_config(daily_vote_cap=3)
    m1, m2 = make_models(2)
    voter = make_voter()
    day = timezone.make_aware(dt.datetime(2026, 3, 2, 10, 0))
    votes = []
    for k in range(5):
        vote = voted_battle(m1, m2, participant=voter)
        Vote.objects.filter(pk=vote.pk).update(created_at=day + dt.timedelta(minutes=k))
        votes.append(vote)
    next_day = voted_battle(m1, m2, participant=voter)
    Vote.objects.filter(pk=next_day.pk).update(created_at=day + dt.timedelta(days=1))
    flags = [quality.check_vote(v.pk, theta=NO_FIT) for v in [*votes, next_day]]
    assert [("daily_cap" in f) for f in flags] == [False, False, False, True, True, False]


@pytest.mark.django_db
def test_other_reason_codes_and_manual_exclusions_are_kept():
    m1, m2 = make_models(2)
    vote = voted_battle(m1, m2, answer_a="ez")
    Vote.objects.filter(pk=vote.pk).update(excluded=True, exclusion_reasons=["manual"])
    assert quality.check_vote(vote.pk, theta=NO_FIT) == ["manual", "too_short"]
    Battle.objects.get(pk=vote.battle_id).messages.filter(side="A").update(content=LONG)
    assert quality.check_vote(vote.pk, theta=NO_FIT) == ["manual"]
    vote.refresh_from_db()
    assert vote.excluded


def test_sprt_separates_honest_from_random_and_contrarian_judges():
    rng = np.random.default_rng(42)
    n = 10
    strengths = rng.normal(0, 1.0, n)
    theta = dict(enumerate(strengths))

    def judge(kind: str, votes: int = 150):
        a = rng.integers(0, n, votes)
        b = (a + rng.integers(1, n, votes)) % n
        if kind == "honest":
            choices = bt_outcomes(strengths, a, b, rng)
        elif kind == "random":
            choices = list(rng.choice(["A", "B", "tie"], votes, p=[0.45, 0.45, 0.1]))
        else:  # contrarian: votes against the better model
            choices = ["B" if c == "A" else "A" if c == "B" else c for c in bt_outcomes(strengths, a, b, rng)]
        return quality.sequential_judge_test(list(zip(a.tolist(), b.tolist(), choices)), theta)

    honest = [judge("honest").flagged for _ in range(200)]
    random_clickers = [judge("random").flagged for _ in range(100)]
    contrarians = [judge("contrarian") for _ in range(50)]
    assert np.mean(honest) <= 0.03
    assert np.mean(random_clickers) >= 0.8
    assert all(t.flagged for t in contrarians)
    assert np.mean([t.decisive_votes for t in contrarians]) < 25  # caught quickly


def test_sprt_needs_a_minimum_number_of_votes():
    theta = {1: 2.0, 2: -2.0}
    upsets = [(1, 2, "B")] * (quality.SPRT_MIN_VOTES - 1)
    assert not quality.sequential_judge_test(upsets, theta).flagged
    assert quality.sequential_judge_test(upsets + [(1, 2, "B")], theta).flagged


@pytest.mark.django_db
def test_judge_outlier_flags_all_votes_of_a_contrarian_participant():
    models = make_models(6)
    rng = np.random.default_rng(7)
    strengths = np.linspace(-1.5, 1.5, 6)
    honest = make_voter()
    a = rng.integers(0, 6, 600)
    b = (a + rng.integers(1, 6, 600)) % 6
    outcomes = bt_outcomes(strengths, a, b, rng)
    add_votes([(models[x], models[y], o, o, o) for x, y, o in zip(a, b, outcomes)], participant=honest)
    contrarian = make_voter()
    pairs = [(models[5], models[0]), (models[4], models[1])] * 10
    their_votes = add_votes([(x, y, "B", "B", "B") for x, y in pairs], participant=contrarian)
    theta = ranking.current_strengths()  # the caller hands the checks the current fit
    result = quality.check_judge(contrarian.pk, theta)
    assert result.flagged
    assert set(Vote.objects.filter(participant=contrarian).values_list("excluded", flat=True)) == {True}
    assert all(v.exclusion_reasons == ["judge_outlier"] for v in Vote.objects.filter(pk__in=[v.pk for v in their_votes]))
    assert not quality.check_judge(honest.pk, theta).flagged
    assert not Vote.objects.filter(participant=honest, excluded=True).exists()


@pytest.mark.django_db
def test_the_checks_read_the_conversation_as_judged():
    """A frozen transcript is what the volunteer saw: checks read it, not messages edited since."""
    from arena import selectors
    from arena.models import VoteTranscript

    m1, m2 = make_models(2)
    m1.identity_terms = "Latxa"
    m1.save()
    vote = voted_battle(m1, m2, answer_a="Latxa naiz. " + LONG)
    side_a, side_b = selectors.transcripts_of([vote.battle])[str(vote.battle_id)]
    VoteTranscript.objects.create(vote=vote, side_a=side_a, side_b=side_b)
    Battle.objects.get(pk=vote.battle_id).messages.filter(side="A").update(content=LONG)
    assert quality.check_vote(vote.pk, theta=NO_FIT) == ["identity_leak"]


@pytest.mark.django_db
def test_recheck_runs_every_check_with_the_fit_it_is_given():
    m1, m2 = make_models(2)
    voter = make_voter()
    short = voted_battle(m1, m2, answer_b="Bai.", participant=voter, overall="B")
    upsets = [voted_battle(m1, m2, participant=voter, overall="B") for _ in range(quality.SPRT_MIN_VOTES)]
    assert quality.recheck_votes([short.pk, *[v.pk for v in upsets]], theta={m1.pk: 3.0, m2.pk: -3.0}) == 11
    short.refresh_from_db()
    assert short.exclusion_reasons == ["too_short", "judge_outlier"]
    assert quality.recheck_votes([short.pk], theta=NO_FIT) == 1  # no fit: the judge is cleared
    short.refresh_from_db()
    assert short.exclusion_reasons == ["too_short"]
