"""The arena's vocabulary: rating dimensions, sides, vote choices and vote-exclusion reasons.

One owner for each word and its translated label. The leaderboard, exports, quality checks, admin
and evaluation pages all read them from here, so a dimension is never named two ways.
Stored values are the enum values (database columns, export fields), never the labels.
"""
from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Dimension(models.TextChoices):
    """The three questions a volunteer answers; each is a Vote field of the same name."""

    OVERALL = "overall", _("Overall")
    CONTENT = "content", _("Content")
    LANGUAGE = "language", _("Basque quality")


# Board and export order: overall first, as the study reported it.
DIMENSIONS: tuple[str, ...] = tuple(Dimension.values)


class Side(models.TextChoices):
    """The two anonymous panes of a battle; browsers only ever see these letters before the vote."""

    A = "A"
    B = "B"


SIDES: tuple[str, ...] = tuple(Side.values)


class Choice(models.TextChoices):
    """Answer to the content and Basque-quality questions."""

    A = "A", _("A is better")
    TIE = "tie", _("Tie")
    B = "B", _("B is better")


class OverallChoice(models.TextChoices):
    """Answer to the overall question, which may also reject both answers."""

    A = "A", _("A is better")
    TIE = "tie", _("Tie")
    B = "B", _("B is better")
    BOTH_BAD = "both_bad", _("Both are bad")


class ExclusionReason(models.TextChoices):
    """Why a vote is left out of the rankings (stored in ``Vote.exclusion_reasons``; votes are kept).

    The quality checks (arena/quality.py) add and remove all but MANUAL, which belongs to admins.
    """

    IDENTITY_LEAK = "identity_leak", _("an answer named its own model or maker")
    JUDGE_OUTLIER = "judge_outlier", _("the voter's choices disagree with everyone else's (sequential test)")
    TOO_SHORT = "too_short", _("answers too short")
    DAILY_CAP = "daily_cap", _("over the voter's daily vote cap")
    MANUAL = "manual", _("excluded by an administrator")


def exclusion_reason(code: str) -> ExclusionReason:
    """A stored reason code as a member; an unknown code (old or hand-edited data) counts as a manual exclusion."""
    try:
        return ExclusionReason(code)
    except ValueError:
        return ExclusionReason.MANUAL


def exclusion_label(code: str):
    """The translated label of a stored reason code."""
    return exclusion_reason(code).label
