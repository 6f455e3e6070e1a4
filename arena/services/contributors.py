"""Writes about a volunteer's public recognition: their nickname and whether they appear on the board."""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from arena.models import Participant
from arena.nicknames import nickname_problem, nickname_taken
from arena.services.accounts import acting_participant
from arena.services.errors import ArenaError


def set_board_profile(*, participant: Participant, nickname: str, show_on_board: bool) -> Participant:
    """Store the nickname (validated again here: every caller gets the same rules) and the opt-in.
    A nickname taken meanwhile by someone else is refused, and nothing changes."""
    nickname = (nickname or "").strip()
    if nickname and (problem := nickname_problem(nickname)) is not None:
        raise ArenaError("bad_nickname", problem)
    if show_on_board and not nickname:
        raise ArenaError("bad_nickname", _("Choose a nickname to appear on the board."))
    try:
        with transaction.atomic():
            acting_participant(participant)
            if nickname and nickname_taken(nickname, participant):
                raise ArenaError("nickname_taken", _("This nickname is already taken. Choose another one."))
            Participant.objects.filter(pk=participant.pk).update(nickname=nickname, show_on_board=show_on_board)
    except IntegrityError:  # the unique constraint: someone took the same nickname at the same moment
        raise ArenaError("nickname_taken", _("This nickname is already taken. Choose another one."))
    participant.nickname, participant.show_on_board = nickname, show_on_board
    return participant
