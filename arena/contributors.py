"""Reads for volunteers' recognition: their own contributions (valid and excluded votes, streaks,
raffle entries, place) and the public contributors' board (opted-in nicknames only).

A vote is valid when the quality checks left it in (``excluded`` false). The arithmetic (streaks,
raffle entries, ranks) is in small pure functions so its edge cases are tested apart from the queries.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena.models import Campaign, Participant, Vote
from arena.vocabulary import ExclusionReason, exclusion_reason

# Streaks are counted in the study's calendar days, wherever the server or the volunteer is.
STREAK_ZONE = ZoneInfo("Europe/Madrid")
BOARD_SIZE = 100

# Why a vote was set aside, in words for the volunteer who cast it (vocabulary's labels are for researchers).
PLAIN_REASONS = {
    ExclusionReason.IDENTITY_LEAK: _("One of the answers said which model it was, so the comparison was no longer "
                                     "anonymous."),
    ExclusionReason.TOO_SHORT: _("An answer was too short to compare."),
    ExclusionReason.DAILY_CAP: _("It came after the day's maximum number of votes."),
    ExclusionReason.JUDGE_OUTLIER: _("Your recent choices differed a lot from everyone else's, so they are set aside "
                                     "for now. This is checked again as you keep voting."),
    ExclusionReason.MANUAL: _("A member of the team set it aside."),
}


# ---------------------------------------------------------------- arithmetic


def streaks(days: Iterable[dt.date], today: dt.date) -> tuple[int, int]:
    """(current, longest) runs of consecutive days with a vote. The current run still counts when the
    last vote was yesterday (today's is yet to come); it is 0 once a whole day passed without one."""
    ordered = sorted(set(days))
    longest = run = 0
    previous = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == dt.timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    current = run if previous is not None and (today - previous).days <= 1 else 0
    return current, longest


def raffle_entries(valid_votes: int, per_entry: int | None) -> tuple[int, int] | None:
    """(entries, votes still needed for the next one), or None when the campaign has no raffle."""
    if not per_entry or per_entry < 1:
        return None
    return valid_votes // per_entry, per_entry - valid_votes % per_entry


def competition_ranks(counts: Sequence[int]) -> list[int]:
    """Ranks for counts sorted from most to fewest, ties sharing a place ("1, 2, 2, 4")."""
    ranks: list[int] = []
    for position, count in enumerate(counts):
        ranks.append(ranks[-1] if position and count == counts[position - 1] else position + 1)
    return ranks


# ---------------------------------------------------------------- the volunteer's own


@dataclass
class Contributions:
    valid: int
    excluded: int
    reasons: list[dict]  # {"code", "label", "count"}, most frequent first
    current_streak: int
    longest_streak: int
    campaign: Campaign | None
    campaign_valid: int
    raffle: tuple[int, int] | None  # (entries, votes to the next one)
    place: int | None  # among the opted-in contributors of the running campaign (all time without one)
    place_all_time: int | None


def vote_days(participant: Participant) -> list[dt.date]:
    """The local calendar days on which the volunteer voted (any vote: a streak rewards showing up)."""
    return list(Vote.objects.filter(participant=participant)
                .annotate(day=TruncDate("created_at", tzinfo=STREAK_ZONE))
                .values_list("day", flat=True).order_by("day").distinct())


def excluded_reasons(participant: Participant) -> list[dict]:
    counter: Counter = Counter()
    for reasons in Vote.objects.filter(participant=participant, excluded=True).values_list("exclusion_reasons", flat=True):
        for code in {exclusion_reason(code) for code in reasons or ()} or {ExclusionReason.MANUAL}:
            counter[code] += 1
    return [{"code": code.value, "label": PLAIN_REASONS[code], "count": n} for code, n in counter.most_common()]


def contributions(participant: Participant, campaign: Campaign | None, now: dt.datetime | None = None) -> Contributions:
    now = now or timezone.now()
    # (Aliases unlike the fields' names: an aggregate may not shadow the field it filters on.)
    counts = {"n_valid": Count("pk", filter=Q(excluded=False)), "n_excluded": Count("pk", filter=Q(excluded=True))}
    if campaign is not None:
        counts["n_campaign"] = Count("pk", filter=Q(excluded=False, campaign=campaign))
    row = {"n_campaign": 0, **Vote.objects.filter(participant=participant).aggregate(**counts)}
    current, longest = streaks(vote_days(participant), now.astimezone(STREAK_ZONE).date())
    opted_in = participant.show_on_board and bool(participant.nickname)
    return Contributions(
        valid=row["n_valid"], excluded=row["n_excluded"],
        reasons=excluded_reasons(participant) if row["n_excluded"] else [],
        current_streak=current, longest_streak=longest, campaign=campaign, campaign_valid=row["n_campaign"],
        raffle=raffle_entries(row["n_campaign"], campaign.votes_per_raffle_entry) if campaign else None,
        place=place_on_board(participant, campaign) if opted_in and campaign else None,
        place_all_time=place_on_board(participant, None) if opted_in else None,
    )


# ---------------------------------------------------------------- the public board


def _board_query(campaign: Campaign | None):
    valid = Q(votes__excluded=False) & (Q(votes__campaign=campaign) if campaign else Q())
    # Only volunteers who chose to appear, under their nickname; never deleted, banned or deactivated ones.
    return (Participant.objects.filter(show_on_board=True, deleted_at__isnull=True, banned_at__isnull=True,
                                       user__is_active=True)
            .exclude(nickname="").annotate(valid=Count("votes", filter=valid)).filter(valid__gt=0))


def board(campaign: Campaign | None, limit: int = BOARD_SIZE) -> list[dict]:
    """{"rank", "nickname", "votes"} of the opted-in contributors with most valid votes (in the campaign,
    or all time when None). Nicknames only: usernames are never read here."""
    rows = list(_board_query(campaign).order_by("-valid", "nickname").values_list("nickname", "valid")[:limit])
    ranks = competition_ranks([votes for _nickname, votes in rows])
    return [{"rank": rank, "nickname": nickname, "votes": votes} for rank, (nickname, votes) in zip(ranks, rows)]


def place_on_board(participant: Participant, campaign: Campaign | None) -> int | None:
    """The volunteer's place on the board (ties share it), or None when they are not on it."""
    mine = _board_query(campaign).filter(pk=participant.pk).values_list("valid", flat=True).first()
    if mine is None:
        return None
    return _board_query(campaign).filter(valid__gt=mine).count() + 1
