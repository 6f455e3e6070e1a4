"""Writes of moderators: flag a conversation, hide it from exports (or show it again), ban a volunteer
from new battles (or lift the ban). Each change is logged as a ``ModerationAction`` with the
moderator and the reason, in the same transaction; a selection that changes nothing logs nothing.

Effects: a hidden battle is left out of every export (arena/export/source.py); a banned volunteer
is refused new prompts and so new battles (arena/services/battles.py ``_refuse_banned``).
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena.models import Battle, ModerationAction, Participant
from arena.services.errors import ArenaError

Action = ModerationAction.Action


def _reason(reason) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ArenaError("reason_required", _("Say why: a moderation action needs a reason."))
    return reason.strip()


def _log(action: str, *, moderator, reason: str, battles: Iterable[Battle] = (),
         participants: Iterable[Participant] = ()) -> None:
    ModerationAction.objects.bulk_create(
        [ModerationAction(action=action, battle=battle, participant_id=battle.participant_id, reason=reason,
                          moderator=moderator) for battle in battles]
        + [ModerationAction(action=action, participant=participant, reason=reason, moderator=moderator)
           for participant in participants]
    )


@transaction.atomic
def flag_battles(*, battle_ids: Iterable, moderator, reason: str) -> int:
    """Mark the conversations for review; returns how many were not flagged before."""
    reason = _reason(reason)
    battles = list(Battle.objects.select_for_update().filter(pk__in=list(battle_ids), flagged=False))
    Battle.objects.filter(pk__in=[battle.pk for battle in battles]).update(flagged=True, updated_at=timezone.now())
    _log(Action.FLAG, moderator=moderator, reason=reason, battles=battles)
    return len(battles)


@transaction.atomic
def set_battles_hidden(*, battle_ids: Iterable, hidden: bool, moderator, reason: str) -> int:
    """Hide the conversations from every export (``hidden``) or show them again; returns how many changed."""
    reason = _reason(reason)
    battles = list(Battle.objects.select_for_update().filter(pk__in=list(battle_ids), hidden=not hidden))
    Battle.objects.filter(pk__in=[battle.pk for battle in battles]).update(hidden=hidden, updated_at=timezone.now())
    _log(Action.HIDE if hidden else Action.UNHIDE, moderator=moderator, reason=reason, battles=battles)
    return len(battles)


@transaction.atomic
def set_participants_banned(*, participant_ids: Iterable, banned: bool, moderator, reason: str) -> int:
    """Ban the volunteers from new battles and prompts (``banned``) or lift the ban; returns how many changed.
    A battle already answered can still be voted: the ban stops what comes next."""
    reason = _reason(reason)
    participants = list(Participant.objects.select_for_update().filter(
        pk__in=list(participant_ids), banned_at__isnull=banned))
    Participant.objects.filter(pk__in=[p.pk for p in participants]).update(
        banned_at=timezone.now() if banned else None)
    _log(Action.BAN if banned else Action.UNBAN, moderator=moderator, reason=reason, participants=participants)
    return len(participants)
