"""Writes about reactions: a volunteer's optional marks on single answers of their own battle.

A reaction is toggled: the same (answer, kind) twice removes it. The unique constraint on
(message, participant, kind) makes a double click or two racing requests store at most one row.
Reactions are allowed before and after the vote (they never change it) on answers that exist.
"""
from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from arena.models import Battle, Message, Participant, Reaction
from arena.services.accounts import acting_participant
from arena.services.errors import ArenaError
from arena.vocabulary import SIDES

logger = logging.getLogger(__name__)

# Toggles per volunteer per minute: generous for real use (5 kinds × 2 sides × a few turns), while a
# script hammering the endpoint gets refusals instead of database writes.
REACTIONS_PER_MINUTE = 60


def _check_rate(participant: Participant) -> None:
    key = f"arena:reactions:{participant.pk}"
    cache.add(key, 0, 60)  # the window starts with the first toggle
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr: a new window
        cache.set(key, 1, 60)
        count = 1
    except Exception:  # the cache is down (config/cache.py degrades reads and writes, not incr)
        logger.warning("reaction rate limit skipped: cache unavailable", exc_info=True)
        return  # no limit for now rather than no reactions; the unique constraint still bounds the rows
    if count > REACTIONS_PER_MINUTE:
        raise ArenaError("rate_limited", _("Too many reactions at once. Wait a minute and try again."))


@transaction.atomic
def toggle_reaction(*, participant: Participant, battle_id, turn: int, side: str, kind: str) -> bool:
    """Add the reaction ``kind`` to the answer of ``side`` in ``turn``, or remove it if it was there.
    Returns whether it is on now. Refusals: ``bad_kind``, ``bad_answer`` (no such answer yet),
    ``not_found`` (no such battle, or not this volunteer's: the same answer for both), ``rate_limited``."""
    if kind not in Reaction.Kind.values:
        raise ArenaError("bad_kind", _("Unknown reaction: %(kind)s.") % {"kind": str(kind)[:40]})
    if side not in SIDES or not isinstance(turn, int) or turn < 0:
        raise ArenaError("bad_answer", _("There is no such answer in this conversation."))
    acting_participant(participant)
    if not Battle.objects.filter(pk=battle_id, participant=participant).exists():
        raise ArenaError("not_found", _("This battle does not exist."))
    message = Message.objects.filter(battle_id=battle_id, turn=turn, side=side, role=Message.Role.ASSISTANT).first()
    if message is None:
        raise ArenaError("bad_answer", _("There is no such answer in this conversation."))
    _check_rate(participant)
    removed, _count = Reaction.objects.filter(message=message, participant=participant, kind=kind).delete()
    if removed:
        return False
    try:
        with transaction.atomic():  # a savepoint: a racing twin's row makes this insert a no-op
            Reaction.objects.create(message=message, participant=participant, kind=kind)
    except IntegrityError:
        pass  # the same toggle arrived twice at once: one row, on
    return True
