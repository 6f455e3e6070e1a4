"""Taking a battle back after a dropped socket (the battle socket's ``resume`` frame): wait for a turn
cut by the previous socket to be stored, settle one left by a dead process, then send the conversation
so far with side letters and rendered answers only."""
from __future__ import annotations

import asyncio
import uuid

from django.utils.translation import gettext as _

from arena import selectors, services
from arena.models import Battle, Message, Participant
from arena.rendering import render_answer
from arena.vocabulary import SIDES
from config.async_db import in_db_thread

# How long a resume waits for a turn cut by the previous socket's disconnect to be stored.
RESUME_WAIT_SECONDS = 5.0


def closed() -> dict:
    return {"type": "error", "code": "not_resumable", "message": _("This conversation is closed. Start a new battle.")}


async def resumed_frame(participant: Participant, battle_id: uuid.UUID) -> dict:
    """The ``resumed`` frame for this volunteer's battle, or the error frame saying why it cannot be."""
    state = await in_db_thread(selectors.resumable_state)(participant, battle_id)
    waited = 0.0
    while state is not None and state[0] == Battle.Status.ANSWERING and waited < RESUME_WAIT_SECONDS:
        # The previous socket's disconnect is still storing the cut turn (or another tab is answering).
        await asyncio.sleep(0.1)
        waited += 0.1
        state = await in_db_thread(selectors.resumable_state)(participant, battle_id)
    if state is not None and state[0] == Battle.Status.ANSWERING:
        # Long dead (the process serving its turn died)? Then the disconnect rule settles it now.
        if not await in_db_thread(services.settle_stale_turn)(battle_id=battle_id, participant=participant):
            return {"type": "error", "code": "battle_busy", "message": _("The models are answering…")}
        state = await in_db_thread(selectors.resumable_state)(participant, battle_id)
    if state is None or state[0] not in (Battle.Status.OPEN, Battle.Status.READY):
        return closed()  # someone else's, voted, failed or abandoned: all look the same from here
    status, rows = state
    turns: dict[int, dict] = {}
    for turn, role, side, text, finish_reason in rows:
        entry = turns.setdefault(turn, {"turn": turn, "prompt": "", "answers": {}})
        if role == Message.Role.USER:
            entry["prompt"] = text
        elif side in SIDES:
            entry["answers"][side] = {"text": text, "finish_reason": finish_reason}
    answers = [answer for entry in turns.values() for answer in entry["answers"].values()]
    htmls = await asyncio.gather(*(render_answer(answer.pop("text")) for answer in answers))
    for answer, html in zip(answers, htmls):
        answer["html"] = html
    return {"type": "resumed", "battle": str(battle_id), "status": status,
            "can_vote": status == Battle.Status.READY, "turns": [turns[turn] for turn in sorted(turns)]}
