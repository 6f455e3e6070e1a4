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
stays excluded. The checks read the conversations as judged (``selectors.judged_conversations``)
and receive the current Bradley–Terry fit from their caller: this module never imports the ranking.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from arena import selectors
from arena.models import ArenaConfig, Battle, Vote
from arena.vocabulary import SIDES, Choice, ExclusionReason

# Judge test (Wald SPRT). H0: the judge picks the BT favourite of a pair with the model's
# probability q; H1: the judge's choice is unrelated to quality (agrees with probability ½).
SPRT_ALPHA = 0.01  # chance of flagging an honest judge (per test, before the reflecting floor)
SPRT_BETA = 0.10  # chance of missing an uninformative judge
SPRT_UPPER = math.log((1 - SPRT_BETA) / SPRT_ALPHA)  # ≈ 4.50: reject H0 -> flag
SPRT_LOWER = math.log(SPRT_BETA / (1 - SPRT_ALPHA))  # ≈ -2.29: evidence of honesty is capped here
SPRT_MIN_VOTES = 10  # decisive votes before a judge can be flagged
SPRT_MAX_Q = 0.95  # one upset of a lopsided pair adds at most ln(10) ≈ 2.3


def identity_pattern(terms_text: str) -> re.Pattern | None:
    """Whole-word, case-insensitive matcher for one model's identity words (one per line)."""
    terms = sorted({line.strip() for line in (terms_text or "").splitlines() if line.strip()}, key=len, reverse=True)
    if not terms:
        return None
    # Look-arounds instead of \b so words ending in punctuation ("C++") still match whole.
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(term) for term in terms) + r")(?!\w)", re.IGNORECASE)


def answers_by_side(vote: Vote) -> dict[str, list[str]]:
    """Each side's answers as the volunteer judged them (empty ones included)."""
    conversations = selectors.judged_conversations(vote)
    return {side: [m["content"] for m in conversations[side] if m["role"] == "assistant"] for side in SIDES}


def has_identity_leak(battle: Battle, answers: dict[str, list[str]]) -> bool:
    for side in SIDES:
        pattern = identity_pattern(battle.model_for(side).identity_terms)
        if pattern and any(pattern.search(text) for text in answers[side]):
            return True
    return False


def is_too_short(answers: dict[str, list[str]], min_chars: int) -> bool:
    return any(sum(len(text.strip()) for text in answers[side]) < min_chars for side in SIDES)


def is_over_daily_cap(vote: Vote, cap: int) -> bool:
    """Was this vote cast after the participant's ``cap`` earlier votes of the same local day?"""
    if cap <= 0:
        return False
    day = timezone.localtime(vote.created_at).date()
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    before = Q(created_at__lt=vote.created_at) | Q(created_at=vote.created_at, pk__lt=vote.pk)
    return Vote.objects.filter(before, participant_id=vote.participant_id, created_at__gte=start).count() >= cap


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


def check_judge(participant_id: int, theta: dict[int, float]) -> JudgeTest:
    """Run the judge test over all of a participant's "overall" votes against the fit ``theta``
    (model id -> natural-log strength) and flag or unflag all of them."""
    votes = list(
        Vote.objects.filter(participant_id=participant_id)
        .order_by("created_at", "pk")
        .values_list("pk", "model_a_id", "model_b_id", "overall")
    )
    result = sequential_judge_test([(a, b, choice) for _pk, a, b, choice in votes], theta)
    set_reason([pk for pk, *_ in votes], ExclusionReason.JUDGE_OUTLIER, result.flagged)
    return result


def _answer_and_cap_findings(vote: Vote, config: ArenaConfig) -> list[tuple[str, bool]]:
    """(reason, present) for the checks of one vote that need only that vote."""
    answers = answers_by_side(vote)
    return [(ExclusionReason.IDENTITY_LEAK, has_identity_leak(vote.battle, answers)),
            (ExclusionReason.TOO_SHORT, is_too_short(answers, config.min_answer_chars)),
            (ExclusionReason.DAILY_CAP, is_over_daily_cap(vote, config.daily_vote_cap))]


def _check_answers_and_cap(vote: Vote, config: ArenaConfig) -> None:
    for reason, present in _answer_and_cap_findings(vote, config):
        set_reason([vote.pk], reason, present)


def _votes(vote_ids: Iterable[int]):
    return Vote.objects.filter(pk__in=list(vote_ids)).select_related(
        "battle__model_a", "battle__model_b", "transcript")


@transaction.atomic
def check_vote(vote_id: int, *, theta: dict[int, float], config: ArenaConfig | None = None) -> list[str]:
    """Run every check for one freshly stored vote; returns its reason codes afterwards."""
    config = config or ArenaConfig.current()
    vote = _votes([vote_id]).get()
    _check_answers_and_cap(vote, config)
    check_judge(vote.participant_id, theta)
    Vote.objects.filter(pk=vote.pk).update(checked_at=timezone.now())
    return list(Vote.objects.values_list("exclusion_reasons", flat=True).get(pk=vote.pk))


def recheck_votes(vote_ids: Iterable[int], *, theta: dict[int, float], config: ArenaConfig | None = None) -> int:
    """Re-run all checks (e.g. after identity words or thresholds changed); returns votes checked."""
    config = config or ArenaConfig.current()
    vote_ids = list(vote_ids)
    participants = set()
    checked = 0
    findings: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for vote in _votes(vote_ids):
        for reason, present in _answer_and_cap_findings(vote, config):
            findings[(reason, present)].append(vote.pk)
        participants.add(vote.participant_id)
        checked += 1
    # One locked update per reason and outcome for the whole batch, not three per vote: the new votes'
    # checks run in batches (arena/tasks.py:check_new_votes) and this was most of their cost.
    for (reason, present), ids in findings.items():
        set_reason(ids, reason, present)
    Vote.objects.filter(pk__in=vote_ids).update(checked_at=timezone.now())
    for participant_id in participants:
        check_judge(participant_id, theta)
    return checked


@transaction.atomic
def set_reason(vote_ids: list[int], reason: str, present: bool) -> None:
    """Add or remove one reason code on these votes, keeping every other code as it is."""
    reason = ExclusionReason(reason).value  # stored as the plain code
    if not vote_ids:
        return
    changed = []
    for vote in Vote.objects.select_for_update().filter(pk__in=vote_ids).only("pk", "excluded", "exclusion_reasons"):
        reasons = list(vote.exclusion_reasons or [])
        manual_exclusion = vote.excluded and not reasons
        if present and reason not in reasons:
            reasons.append(reason)
        elif not present and reason in reasons:
            reasons.remove(reason)
        else:
            continue
        vote.exclusion_reasons = reasons
        vote.excluded = bool(reasons) or manual_exclusion
        changed.append(vote)
    if changed:
        Vote.objects.bulk_update(changed, ["excluded", "exclusion_reasons"])
