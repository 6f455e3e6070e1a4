"""Vote quality checks (services: they write exclusion flags on votes; votes are never deleted).

Reason codes stored in ``Vote.exclusion_reasons``:

- ``identity_leak``: an answer names its own model or maker (``ServedModel.identity_terms``, whole
  words, case-insensitive), so the vote was not blind.
- ``too_short``: one side's answers, all turns together, have fewer than
  ``ArenaConfig.min_answer_chars`` characters.
- ``daily_cap``: the participant's votes beyond ``ArenaConfig.daily_vote_cap`` on one local day.
- ``judge_outlier``: a sequential likelihood-ratio test says the participant's "overall" votes
  disagree with the current Bradley–Terry predictions more than an honest judge would; all of
  that participant's votes get the flag while the test rejects.

The codes are ``vocabulary.ExclusionReason``'s. Only these four are ever added or removed here;
other codes (e.g. MANUAL, set by an admin) are kept, and a vote an admin excluded without a reason
stays excluded. The checks read the conversations as judged (the transcript frozen with the vote,
else the battle's messages: ``selectors.judged_conversations``'s rule) and receive the current
Bradley–Terry fit from their caller: this module never imports the ranking.

The checks run in batches (arena/tasks.py:check_new_votes), set-based: a batch reads its votes, their
answers and their voters' whole histories in a few queries whatever its size, decides in Python and
writes only the votes whose reasons change (tests/arena/test_quality_batch.py).
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from arena import transcripts
from arena.jsonio import loads
from arena.models import ArenaConfig, Message, Vote
from arena.vocabulary import SIDES, Choice, ExclusionReason

# Judge test (Wald SPRT). H0: the judge picks the BT favourite of a pair with the model's
# probability q; H1: the judge's choice is unrelated to quality (agrees with probability ½).
SPRT_ALPHA = 0.01  # chance of flagging an honest judge (per test, before the reflecting floor)
SPRT_BETA = 0.10  # chance of missing an uninformative judge
SPRT_UPPER = math.log((1 - SPRT_BETA) / SPRT_ALPHA)  # ≈ 4.50: reject H0 -> flag
SPRT_LOWER = math.log(SPRT_BETA / (1 - SPRT_ALPHA))  # ≈ -2.29: evidence of honesty is capped here
SPRT_MIN_VOTES = 10  # decisive votes before a judge can be flagged
SPRT_MAX_Q = 0.95  # one upset of a lopsided pair adds at most ln(10) ≈ 2.3
BATCH_SIZE = 2000  # votes read and decided together (bounds a recheck of every vote's memory)
# The codes this module sets, as stored, in the order a vote's new ones are appended (whatever the batch).
LEAK, SHORT, CAP, JUDGE = CHECKED_REASONS = tuple(reason.value for reason in (
    ExclusionReason.IDENTITY_LEAK, ExclusionReason.TOO_SHORT, ExclusionReason.DAILY_CAP, ExclusionReason.JUDGE_OUTLIER))


@functools.lru_cache(maxsize=1024)  # one compile per model's words, not per vote
def identity_pattern(terms_text: str) -> re.Pattern | None:
    """Whole-word, case-insensitive matcher for one model's identity words (one per line)."""
    terms = sorted({line.strip() for line in (terms_text or "").splitlines() if line.strip()}, key=len, reverse=True)
    if not terms:
        return None
    # Look-arounds instead of \b so words ending in punctuation ("C++") still match whole.
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(term) for term in terms) + r")(?!\w)", re.IGNORECASE)


def has_identity_leak(identity_terms: dict[str, str], answers: dict[str, list[str]]) -> bool:
    """Does a side's answer name that side's model (``identity_terms``: side -> its model's words)?"""
    for side in SIDES:
        pattern = identity_pattern(identity_terms[side] or "")
        if pattern and any(pattern.search(text) for text in answers[side]):
            return True
    return False


def is_too_short(answers: dict[str, list[str]], min_chars: int) -> bool:
    return any(sum(len(text.strip()) for text in answers[side]) < min_chars for side in SIDES)


def day_start(moment: dt.datetime) -> dt.datetime:
    """Midnight of ``moment``'s local day: the daily cap counts the votes since then."""
    return timezone.make_aware(dt.datetime.combine(timezone.localtime(moment).date(), dt.time.min))


@dataclass
class JudgeTest:
    statistic: float  # log-likelihood ratio H1:H0, floored at SPRT_LOWER
    decisive_votes: int
    flagged: bool


def sequential_judge_test(choices: list[tuple[int, int, str]], theta: dict[int, float]) -> JudgeTest:
    """Wald's SPRT over a judge's votes in time order; ``choices`` = (model A id, model B id, "A"|"B"|...).

    Ties and "both bad" carry no direction and are skipped, as are pairs with an unfitted model.
    The statistic is floored at the lower threshold (a reflecting barrier) instead of stopping
    there, so a judge who starts clicking at random after many good votes can still be caught.
    """
    llr, decisive = 0.0, 0
    flagged = False
    for model_a, model_b, choice in choices:
        if choice not in (Choice.A, Choice.B) or model_a not in theta or model_b not in theta:
            continue
        gap = theta[model_a] - theta[model_b]
        q = min(SPRT_MAX_Q, 1.0 / (1.0 + math.exp(-abs(gap))))
        agrees = (choice == Choice.A) == (gap >= 0) if gap != 0 else True
        llr += math.log(0.5 / q) if agrees else math.log(0.5 / (1.0 - q))
        llr = max(llr, SPRT_LOWER)
        decisive += 1
        if decisive >= SPRT_MIN_VOTES and llr >= SPRT_UPPER:
            flagged = True
            break
    return JudgeTest(statistic=llr, decisive_votes=decisive, flagged=flagged)


@dataclass
class History:
    """One voter's votes in time order, as the daily cap and the judge test read them."""

    keys: list[tuple[dt.datetime, int]] = field(default_factory=list)  # (created_at, pk)
    choices: list[tuple[int, int, str]] = field(default_factory=list)  # (model A, model B, overall)
    reasons: dict[int, list[str]] = field(default_factory=dict)  # pk -> exclusion reasons now

    def earlier_same_day(self, created_at: dt.datetime, pk: int) -> int:
        """How many of the voter's votes came before this one on its local day."""
        return (bisect.bisect_left(self.keys, (created_at, pk))
                - bisect.bisect_left(self.keys, (day_start(created_at), -math.inf)))


def histories(participant_ids: Iterable[int]) -> dict[int, History]:
    """All votes of these voters, in one query."""
    found: dict[int, History] = {}
    rows = (Vote.objects.filter(participant_id__in=list(participant_ids))
            .order_by("participant_id", "created_at", "pk")
            .values_list("participant_id", "created_at", "pk", "model_a_id", "model_b_id", "overall",
                         "exclusion_reasons"))
    for participant_id, created_at, pk, model_a, model_b, overall, reasons in rows:
        history = found.setdefault(participant_id, History())
        history.keys.append((created_at, pk))
        history.choices.append((model_a, model_b, overall))
        history.reasons[pk] = list(reasons or [])
    return found


def check_judge(participant_id: int, theta: dict[int, float]) -> JudgeTest:
    """Run the judge test over all of a participant's "overall" votes against the fit ``theta``
    (model id -> natural-log strength) and flag or unflag all of them."""
    history = histories([participant_id]).get(participant_id, History())
    result = sequential_judge_test(history.choices, theta)
    _write({pk: {JUDGE: result.flagged} for pk in history.reasons}, history.reasons)
    return result


@dataclass
class _Batched:
    """One vote of a batch, as its own checks read it."""

    pk: int
    participant_id: int
    created_at: dt.datetime
    identity_terms: dict[str, str]  # side -> that side's model's identity words
    answers: dict[str, list[str]]  # side -> its answers as judged


def _read_votes(vote_ids: list[int]) -> list[_Batched]:
    """The votes with their models' identity words and their answers as judged: two queries at most."""
    rows = Vote.objects.filter(pk__in=vote_ids).order_by().values_list(
        "pk", "participant_id", "created_at", "battle_id", "battle__model_a__identity_terms",
        "battle__model_b__identity_terms", "transcript__side_a", "transcript__side_b")
    votes, unfrozen = [], {}
    for pk, participant_id, created_at, battle_id, terms_a, terms_b, frozen_a, frozen_b in rows:
        vote = _Batched(pk, participant_id, created_at, {"A": terms_a, "B": terms_b}, {})
        if frozen_a is None:  # stored without a transcript (imports, fixtures): the battle's messages
            unfrozen.setdefault(battle_id, []).append(vote)
        else:
            vote.answers = {side: _assistant(loads(text)) for side, text in zip(SIDES, (frozen_a, frozen_b))}
        votes.append(vote)
    messages: dict[int, list] = {battle_id: [] for battle_id in unfrozen}
    answers = Message.objects.filter(battle_id__in=list(unfrozen), role=Message.Role.ASSISTANT).order_by()
    for battle_id, *row in answers.values_list("battle_id", *transcripts.MESSAGE_FIELDS):
        messages[battle_id].append(tuple(row))
    for battle_id, battle_votes in unfrozen.items():
        conversations = transcripts.conversations({}, {}, messages[battle_id])  # answers only: no system prompt
        for vote in battle_votes:
            vote.answers = {side: _assistant(conversations[side]) for side in SIDES}
    return votes


def _assistant(conversation: list[dict]) -> list[str]:
    return [message["content"] for message in conversation if message["role"] == "assistant"]


def recheck_votes(vote_ids: Iterable[int], *, theta: dict[int, float], config: ArenaConfig | None = None) -> int:
    """Run every check on these votes and their voters' judge tests (new votes, or again after identity
    words or thresholds changed); returns votes checked. A few queries per ``BATCH_SIZE`` votes."""
    config = config or ArenaConfig.current()
    vote_ids = list(vote_ids)
    judged: set[int] = set()
    checked = 0
    for start in range(0, len(vote_ids), BATCH_SIZE):
        chunk = vote_ids[start:start + BATCH_SIZE]
        votes = _read_votes(chunk)
        voters = histories({vote.participant_id for vote in votes})
        targets: dict[int, dict[str, bool]] = {}
        for vote in votes:
            over_cap = config.daily_vote_cap > 0 and voters[vote.participant_id].earlier_same_day(
                vote.created_at, vote.pk) >= config.daily_vote_cap
            targets[vote.pk] = {LEAK: has_identity_leak(vote.identity_terms, vote.answers),
                                SHORT: is_too_short(vote.answers, config.min_answer_chars), CAP: over_cap}
        reasons: dict[int, list[str]] = {}
        for participant_id, history in voters.items():
            reasons.update(history.reasons)
            if participant_id in judged:  # judged in an earlier chunk: same votes, same fit
                continue
            judged.add(participant_id)
            flagged = sequential_judge_test(history.choices, theta).flagged
            for pk in history.reasons:
                targets.setdefault(pk, {})[JUDGE] = flagged
        with transaction.atomic():
            _write(targets, reasons)
            Vote.objects.filter(pk__in=chunk).update(checked_at=timezone.now())
        checked += len(votes)
    return checked


@transaction.atomic
def check_vote(vote_id: int, *, theta: dict[int, float], config: ArenaConfig | None = None) -> list[str]:
    """Run every check for one freshly stored vote; returns its reason codes afterwards."""
    if not recheck_votes([vote_id], theta=theta, config=config):
        raise Vote.DoesNotExist(f"no vote {vote_id}")
    return list(Vote.objects.values_list("exclusion_reasons", flat=True).get(pk=vote_id))


def _with_reasons(excluded: bool, reasons: list[str], targets: dict[str, bool]) -> tuple[bool, list[str]]:
    """A vote's (excluded, reasons) after adding or removing the ``targets`` codes one at a time (in
    ``CHECKED_REASONS`` order), every other code kept; a vote an admin excluded without a reason stays excluded."""
    reasons = list(reasons)
    for code in sorted(targets, key=lambda code: CHECKED_REASONS.index(code) if code in CHECKED_REASONS else -1):
        if targets[code] == (code in reasons):
            continue
        manual_exclusion = excluded and not reasons
        if targets[code]:
            reasons.append(code)
        else:
            reasons.remove(code)
        excluded = bool(reasons) or manual_exclusion
    return excluded, reasons


def _write(targets: dict[int, dict[str, bool]], known: dict[int, list[str]] | None = None) -> None:
    """Apply ``targets`` (vote id -> {stored code: present}) under row locks, with one UPDATE for all the
    votes that change. ``known`` (vote id -> its codes as just read) spares the votes it shows need no
    change the lock; the others are locked and read again first."""
    known = known or {}
    candidates = [pk for pk, wanted in targets.items()
                  if pk not in known or any(present != (code in known[pk]) for code, present in wanted.items())]
    if not candidates:
        return
    changed = []
    with transaction.atomic():
        locked = Vote.objects.select_for_update().filter(pk__in=candidates).order_by("pk")
        for vote in locked.only("pk", "excluded", "exclusion_reasons"):
            excluded, reasons = _with_reasons(vote.excluded, vote.exclusion_reasons or [], targets[vote.pk])
            if (excluded, reasons) != (vote.excluded, list(vote.exclusion_reasons or [])):
                vote.excluded, vote.exclusion_reasons = excluded, reasons
                changed.append(vote)
        if changed:
            Vote.objects.bulk_update(changed, ["excluded", "exclusion_reasons"])


def set_reason(vote_ids: list[int], reason: str, present: bool) -> None:
    """Add or remove one reason code on these votes, keeping every other code as it is."""
    reason = ExclusionReason(reason).value  # stored as the plain code (and an unknown one is refused)
    _write({pk: {reason: present} for pk in vote_ids})
