"""Writes about battles: drawing the pair, prompts under the rate limit, answers and turns (the vote:
votes.py).

Every state change of a battle goes through here, guarded by row locks and status checks, so a
double submit or a race between two tabs can never store two votes or vote a failed battle."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from arena import privacy, transcripts
from arena.models import Battle, Message, Participant
from arena.vocabulary import SIDES, Side

from arena.services.accounts import acting_participant
from arena.services.errors import ArenaError
from arena.services.pairing import SideCall, draw_pair, side_call
from models_serving.text import storable

logger = logging.getLogger(__name__)


@transaction.atomic
def start_battle(*, participant: Participant) -> Battle:
    """Draw two different active, healthy models and freeze their settings into a new battle."""
    acting_participant(participant)
    return _start_battle(participant)


def _start_battle(participant: Participant, status: str = Battle.Status.OPEN,
                  proposed: tuple[int, int] | None = None) -> Battle:
    pair = draw_pair(proposed=proposed)
    return Battle.objects.create(
        participant=participant, model_a=pair.model_a, model_b=pair.model_b, status=status, campaign=pair.campaign,
        snapshot_a=pair.model_a.sampling_snapshot(), snapshot_b=pair.model_b.sampling_snapshot(),
    )


@transaction.atomic
def abandon_battle(*, battle_id) -> None:
    """A battle left without a vote (a new battle, a turn cut by a disconnect before both sides had
    answered: see arena/consumers.py) can no longer be voted."""
    Battle.objects.filter(pk=battle_id, status__in=Battle.OPEN_STATUSES).update(
        status=Battle.Status.ABANDONED, updated_at=timezone.now()
    )


@transaction.atomic
def settle_stale_turn(*, battle_id, participant: Participant) -> str | None:
    """A turn still "answering" long after any answer could (its ASGI process died mid-turn, so no
    disconnect rule ran) is settled by that rule now: votable if both sides of the turn had answered,
    abandoned otherwise. Returns the new status, or None when the turn is not stale."""
    stale_before = timezone.now() - timedelta(seconds=settings.ARENA["TURN_STALE_SECONDS"])
    battle = Battle.objects.select_for_update().filter(
        pk=battle_id, participant=participant, status=Battle.Status.ANSWERING, updated_at__lt=stale_before).first()
    if battle is None:
        return None
    turn = battle.messages.filter(role=Message.Role.USER).count() - 1
    answered = set(battle.messages.filter(role=Message.Role.ASSISTANT, turn=turn).exclude(content="")
                   .values_list("side", flat=True))
    battle.status = Battle.Status.READY if answered >= set(SIDES) else Battle.Status.ABANDONED
    battle.save(update_fields=["status", "updated_at"])
    return battle.status


def check_prompt(*, participant: Participant, text) -> str:
    """Validate a prompt and (as an early answer) the volunteer's rate limit; return the cleaned text
    (writes nothing). Not a guarantee: two sockets can both pass here. ``begin_turn`` and
    ``submit_prompt`` enforce the limit, counting and storing under the participant's row lock."""
    text = clean_prompt(text)
    _check_rate(participant)
    return text


def clean_prompt(text) -> str:
    """The prompt stripped, or a refusal when it is empty, not text, or too long."""
    limits = settings.ARENA
    # storable: a NUL or a lone surrogate would fail the prompt's transaction.
    if not isinstance(text, str) or not (text := storable(text).strip()):
        raise ArenaError("empty_prompt", _("Write a question or message first."))
    if len(text) > limits["PROMPT_MAX_CHARS"]:
        raise ArenaError(
            "prompt_too_long",
            _("The message is too long (at most %(limit)d characters).") % {"limit": limits["PROMPT_MAX_CHARS"]},
        )
    return text


def _check_rate(participant: Participant) -> None:
    """Refuse a prompt beyond PROMPTS_PER_MINUTE in the last minute, over all the volunteer's battles."""
    since = timezone.now() - timedelta(seconds=60)
    recent = Message.objects.filter(
        battle__participant_id=participant.pk, role=Message.Role.USER, created_at__gte=since
    ).count()
    if recent >= settings.ARENA["PROMPTS_PER_MINUTE"]:
        raise ArenaError("rate_limited", _("You are sending messages too fast. Wait a minute and try again."))


@dataclass
class TurnPlan:
    """What the consumer needs to stream one turn: per side, the conversation and the call to make."""

    turn: int
    messages_a: list[dict]
    messages_b: list[dict]
    calls: dict[str, SideCall]

    def messages_for(self, side: str) -> list[dict]:
        return self.messages_a if side == Side.A else self.messages_b


@transaction.atomic
def begin_turn(*, battle_id, participant: Participant, text: str) -> TurnPlan:
    """Store the user's prompt and move the battle to 'answering'; each side is then sent its conversation.

    The account check, the rate limit's count and the insert happen in one transaction under the
    participant's row lock, so prompts sent at once from many sockets or processes are counted one
    after the other: exactly PROMPTS_PER_MINUTE get through."""
    _refuse_banned(acting_participant(participant))
    _check_rate(participant)
    return _begin_turn(_locked_battle(battle_id, participant), text)


def _refuse_banned(current: Participant) -> None:
    """A volunteer a moderator banned (arena/services/moderation.py) sends no more prompts, so starts
    no new battle either; ``current`` is the row just read under its lock."""
    if current.banned_at is not None:
        raise ArenaError("banned", _("A moderator has blocked this account from new conversations. "
                                     "If you think this is a mistake, write to us from the contact page."))


def _locked_battle(battle_id, participant: Participant) -> Battle:
    # The two models come along (their endpoints and settings); an adapter's base is read only if drawn.
    return (Battle.objects.select_for_update(of=("self",)).select_related("model_a", "model_b")
            .get(pk=battle_id, participant=participant))


def _begin_turn(battle: Battle, text: str, *, new: bool = False) -> TurnPlan:
    """``battle`` is locked, or was just created answering (``new``: no messages to read yet)."""
    if not new and battle.status not in (Battle.Status.OPEN, Battle.Status.READY):
        raise ArenaError("battle_closed", _("This conversation is closed. Start a new battle."))
    rows = [] if new else list(battle.messages.values_list(*transcripts.MESSAGE_FIELDS))
    turn = sum(1 for _turn, role, _side, _content in rows if role == Message.Role.USER)
    if turn >= settings.ARENA["MAX_TURNS"]:
        raise ArenaError("too_many_turns", _("This conversation is long enough. Please vote."))
    Message.objects.create(battle=battle, turn=turn, role=Message.Role.USER, content=text)
    # What the prompt seems to contain (the browser warned; sent anyway): exports leave such battles out.
    flags = sorted(set(battle.privacy_flags or ()) | set(privacy.detect(text)))
    changed = ["privacy_flags"] if flags != (battle.privacy_flags or []) else []
    battle.privacy_flags = flags
    if not new:
        battle.status = Battle.Status.ANSWERING
        battle.save(update_fields=["status", "updated_at", *changed])
    elif changed:
        battle.save(update_fields=changed)
    rows.append((turn, Message.Role.USER.value, "", text))  # the prompt just stored, as values_list reads it
    conversations = transcripts.conversations(battle.snapshot_a, battle.snapshot_b, rows)
    return TurnPlan(turn=turn, messages_a=conversations[Side.A], messages_b=conversations[Side.B],
                    calls={side: side_call(battle.model_for(side), battle.snapshot_for(side)) for side in SIDES})


@dataclass
class AcceptedPrompt:
    """A stored prompt: its battle (new when ``new_battle``) and the turn to stream."""

    battle_id: object
    new_battle: bool
    plan: TurnPlan


@transaction.atomic
def submit_prompt(*, participant: Participant, battle_id, text,
                  proposed: tuple[int, int] | None = None) -> AcceptedPrompt:
    """A prompt from the battle socket, all or nothing: validate it, check the account and the rate
    limit under the participant's row lock, start a battle when there is none (``battle_id`` None),
    store the prompt. A refusal leaves nothing behind, not even an empty battle. ``proposed``: the
    pair the socket drew ahead for a new battle (see ``draw_pair``)."""
    text = clean_prompt(text)
    _refuse_banned(acting_participant(participant))
    _check_rate(participant)  # under the lock, and before drawing a pair for a prompt that would be refused
    new_battle = battle_id is None
    battle = (_start_battle(participant, Battle.Status.ANSWERING, proposed)  # no UPDATE after the INSERT
              if new_battle
              else _locked_battle(battle_id, participant))
    plan = _begin_turn(battle, text, new=new_battle)
    return AcceptedPrompt(battle_id=battle.pk, new_battle=new_battle, plan=plan)


@dataclass(frozen=True)
class Answer:
    """One side's answer of a turn, as the relay ends it."""

    side: str
    content: str
    finish_reason: str
    error: str = ""
    token_count: int = 0
    ttft_ms: int | None = None
    duration_ms: int | None = None


@transaction.atomic
def complete_turn(*, battle_id, turn: int, answers: list[Answer], status: str, reason: str = "") -> str:
    """A turn's end in one transaction: its answers stored and the battle moved to ``status`` (ready,
    failed or abandoned) if it is still answering. One transaction per turn instead of one per side
    plus one for the end: at 200 battles the per-turn database work was ~30 % of a worker's CPU."""
    battle = Battle.objects.select_for_update().filter(pk=battle_id).first()
    if battle is None:
        return Battle.Status.ABANDONED  # re-keyed while streaming: the account was deleted
    Message.objects.bulk_create(
        [Message(battle_id=battle_id, turn=turn, role=Message.Role.ASSISTANT, side=answer.side, content=answer.content,
                 finish_reason=answer.finish_reason[:20], error=answer.error[:2000], token_count=answer.token_count,
                 ttft_ms=answer.ttft_ms, duration_ms=answer.duration_ms) for answer in answers],
        update_conflicts=True, unique_fields=["battle", "turn", "role", "side"],
        update_fields=["content", "finish_reason", "error", "token_count", "ttft_ms", "duration_ms"],
    )
    if battle.status != Battle.Status.ANSWERING:
        return battle.status
    battle.status = status
    battle.failure_reason = reason[:2000] if status == Battle.Status.FAILED else ""
    battle.save(update_fields=["status", "failure_reason", "updated_at"])
    return battle.status


def end_turn(*, battle_id, turn: int, answers: list[Answer], status: str, reason: str = "") -> tuple[str, bool]:
    """``complete_turn``, or, when that fails (a bug, the database), the battle failed without the answers,
    so that it never stays "answering" and the page is told: (the battle's status, answers stored)."""
    try:
        return complete_turn(battle_id=battle_id, turn=turn, answers=answers, status=status, reason=reason), True
    except Exception:
        logger.exception("battle %s turn %s: the answers could not be stored", battle_id, turn)
    try:
        return complete_turn(battle_id=battle_id, turn=turn, answers=[], status=Battle.Status.FAILED,
                             reason="the answers could not be stored"), False
    except Exception:
        logger.exception("battle %s: could not be marked failed either", battle_id)
        return Battle.Status.FAILED, False
